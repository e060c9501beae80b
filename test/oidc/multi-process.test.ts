/**
 * Scale-out: several rekey processes on one shared Redis (and on a Redis Cluster) complete one
 * sign-in while the browser and the relying party hop to another process at every request.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { parseConfig } from '../../src/config/load.ts';
import { generateSigningKey } from '../../src/keys.ts';
import { createServices } from '../../src/services.ts';
import { ROOT } from '../support/cli.ts';
import { freePort } from '../support/redis.ts';
import { BACKENDS, FAST_ARGON2, RP_SECRET, backendEnv, testClients } from '../support/test-app.ts';

const PASSWORD = 'granite-comet-drifts-slowly';

/** A browser whose every request goes to the next process; cookies shared across them. */
class HoppingBrowser {
  private readonly cookies = new Map<string, { value: string; path: string }>();
  private next = 0;

  constructor(private readonly ports: number[]) {}

  hop(url: string): string {
    const u = new URL(url);
    u.port = String(this.ports[this.next++ % this.ports.length]);
    return u.toString();
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ status: number; location?: string; text: string; url: string }> {
    const target = new URL(this.hop(url));
    const cookie = [...this.cookies.entries()]
      .filter(([, c]) => target.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
    const res = await fetch(target, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, ...rest] = pair!.split('=');
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || rest.join('=') === '';
      if (expired) this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), { value: rest.join('='), path });
    }
    const location = res.headers.get('location');
    return { status: res.status, text: await res.text(), url, ...(location ? { location: new URL(location, url).toString() } : {}) };
  }
}

function startProcess(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`rekey on port ${port} did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const backend of BACKENDS.filter((b) => b !== 'sqlite')) {
  describe(`three rekey processes on one ${backend}`, function () {
    this.timeout(90_000);
    const children: ChildProcess[] = [];
    let dir: string;
    let ports: number[];
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rekey-multi-'));
      ports = [await freePort(), await freePort(), await freePort()];
      const issuer = `http://127.0.0.1:${ports[0]}`;
      const clientsFile = join(dir, 'clients.json');
      writeFileSync(clientsFile, JSON.stringify(testClients(issuer)));
      const store = await backendEnv(backend);
      cleanup = store.cleanup;
      env = {
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DEMO: 'false',
        SSPR_SCOPE: 'none',
        TWO_FACTOR: 'off',
        ISSUER: issuer,
        CLIENTS_FILE: clientsFile,
        JWKS: JSON.stringify({ keys: [generateSigningKey()] }),
        COOKIE_KEYS: 'k'.repeat(40),
        HMAC_KEYS: 'h'.repeat(40),
        ...FAST_ARGON2,
        ...store.env,
      };
      const services = await createServices(parseConfig({ ...env, DATA_DIR: dir }));
      await services.accounts.create({ login: 'mia', email: 'mia@example.com', password: PASSWORD });
      await services.close();
      for (const [i, port] of ports.entries()) {
        children.push(startProcess({ ...env, PORT: String(port), DATA_DIR: join(dir, `p${i}`) }));
      }
      await Promise.all(ports.map(waitReady));
    });

    after(async () => {
      for (const c of children) c.kill('SIGKILL');
      await cleanup?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it('completes authorization, sign-in, token, userinfo and refresh with every request on another process', async () => {
      const browser = new HoppingBrowser(ports);
      const issuer = env.ISSUER!;
      const redirectUri = `${issuer}/test-rp/callback`;
      const hopFetch = ((input: string | URL, init: RequestInit) => fetch(browser.hop(input.toString()), init)) as unknown as oidc.CustomFetch;
      const config = await oidc.discovery(new URL(issuer), 'test-rp', RP_SECRET, oidc.ClientSecretBasic(RP_SECRET), {
        execute: [oidc.allowInsecureRequests],
        [oidc.customFetch]: hopFetch,
      });
      config[oidc.customFetch] = hopFetch;
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });

      let res = await browser.request(url.toString());
      while (res.location && !res.location.startsWith(redirectUri)) res = await browser.request(res.location);
      assert.equal(res.status, 200);
      assert.match(res.text, /<h1>Sign in<\/h1>/);
      const csrf = /name="csrf" value="([^"]+)"/.exec(res.text)![1]!;
      const action = /action="([^"]*\/password)"/.exec(res.text)![1]!;
      res = await browser.request(new URL(action, issuer).toString(), { method: 'POST', form: { csrf, identifier: 'mia', password: PASSWORD } });
      while (res.location && !res.location.startsWith(redirectUri)) res = await browser.request(res.location);
      assert.ok(res.location?.startsWith(redirectUri), `the sign-in reached the client: ${res.status} ${res.text.slice(0, 300)}`);

      const tokens = await oidc.authorizationCodeGrant(config, new URL(res.location!), { pkceCodeVerifier: verifier, expectedState: state });
      assert.equal(tokens.claims()!.email, 'mia@example.com');
      const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
      assert.equal(info.email, 'mia@example.com');
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.ok(refreshed.access_token);
    });
  });
}
