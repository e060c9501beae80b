/**
 * Boots the real app (same composition root as `npm start`) on a free loopback port with a
 * temp SQLite store, fast-but-real argon2 parameters and test clients. Tests pass env
 * overrides and, where they age data, a controllable clock.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { createServices, type Services, type ServiceOverrides } from '../../src/services.ts';
import { buildApp, type App } from '../../src/app.ts';
import type { ClientEntry } from '../../src/provider/clients.ts';
import { deletePrefixed, redisCluster, redisServer, testKeyPrefix } from './redis.ts';

export type Backend = 'sqlite' | 'redis' | 'redis-cluster';

/** The store backends suites run against: all three, or those listed in TEST_BACKENDS. */
export const BACKENDS: Backend[] = (process.env.TEST_BACKENDS?.split(',').map((s) => s.trim()) ?? ['sqlite', 'redis', 'redis-cluster']).filter(
  (b): b is Backend => b === 'sqlite' || b === 'redis' || b === 'redis-cluster',
);

/** Env that points a rekey (in-process or child) at a backend, with a key prefix of its own. */
export async function backendEnv(backend: Backend): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> {
  if (backend === 'sqlite') return { env: {}, cleanup: async () => {} };
  const prefix = testKeyPrefix();
  if (backend === 'redis') {
    const { url } = await redisServer();
    return { env: { REDIS_URL: url, REDIS_KEY_PREFIX: prefix }, cleanup: async () => void (await deletePrefixed({ url }, prefix)) };
  }
  const { nodes } = await redisCluster();
  return {
    env: { REDIS_CLUSTER_NODES: nodes.join(','), REDIS_KEY_PREFIX: prefix },
    cleanup: async () => void (await deletePrefixed({ nodes }, prefix)),
  };
}

export const RP_SECRET = 'test-rp-secret-that-is-long-enough-0123456789';

export interface TestApp {
  url: string;
  services: Services;
  app: App;
  server: Server;
  dataDir: string;
  /** Test relying parties' redirect URI (nothing listens there: tests read the Location). */
  redirectUri: string;
  backend: Backend;
  close(): Promise<void>;
}

export const FAST_ARGON2 = { ARGON2_MEMORY_KIB: '7168', ARGON2_TIME_COST: '2' };

export function testClients(url: string): ClientEntry[] {
  const redirect = `${url}/test-rp/callback`;
  return [
    {
      client_id: 'test-rp',
      client_secret: RP_SECRET,
      public: false,
      name: 'Test App',
      redirect_uris: [redirect],
      first_party: true,
      post_logout_redirect_uris: [`${url}/test-rp/logged-out`],
      grant_types: ['authorization_code', 'refresh_token'],
    },
    {
      client_id: 'third-party',
      client_secret: `${RP_SECRET}-3p`,
      public: false,
      name: 'Third Party App',
      redirect_uris: [redirect],
      first_party: false,
      post_logout_redirect_uris: [],
      grant_types: ['authorization_code', 'refresh_token'],
    },
  ];
}

export async function startTestApp(
  env: Record<string, string> = {},
  overrides: ServiceOverrides = {},
  backend: Backend = 'sqlite',
  /** More relying parties, built from the app's URL (e.g. one with a backchannel_logout_uri). */
  extraClients: (url: string) => ClientEntry[] = () => [],
  /** The host of ISSUER (default 127.0.0.1; WebAuthn in a browser needs a name such as `localhost`, never an IP). */
  issuerHost = '127.0.0.1',
): Promise<TestApp> {
  const store = await backendEnv(backend);
  const dataDir = mkdtempSync(join(tmpdir(), 'rekey-test-'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://${issuerHost}:${(server.address() as AddressInfo).port}`;
  const config = parseConfig({
    NODE_ENV: 'test',
    ISSUER: url,
    DATA_DIR: dataDir,
    DEMO: 'false',
    LOG_LEVEL: 'silent',
    // Suites that are not about registration pin a policy without it; registration suites set their own.
    SSPR_SCOPE: 'none',
    TWO_FACTOR: 'off',
    ...FAST_ARGON2,
    ...store.env,
    ...env,
  });
  const services = await createServices(config, overrides);
  const app = await buildApp(services, [...testClients(url), ...extraClients(url)]);
  server.on('request', app.callback);
  return {
    url,
    services,
    app,
    server,
    dataDir,
    redirectUri: `${url}/test-rp/callback`,
    backend,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
      await store.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
