/**
 * The server side of the soak test, run as its own process (`node --expose-gc --import tsx`),
 * so that its memory is rekey's alone: the same app the other suites build (startTestApp) on
 * a free loopback port, with accounts seeded for the workload. Talks to its parent over IPC:
 * it sends `{ ready }` with the URL and the accounts, answers `stats` with its memory after a
 * full garbage collection, and closes on `stop`.
 */
import { generateSecret } from 'otplib';
import { startTestApp, type Backend } from '../support/test-app.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';

export interface SoakAccounts {
  /** Password only: sign-ins and refreshes. */
  signin: { login: string; password: string }[];
  /** With an authenticator app: resets through the API. */
  reset: { login: string; password: string; totp: string }[];
}

export type SoakMessage =
  | { ready: true; url: string; redirectUri: string; accounts: SoakAccounts }
  | { stats: true; rss: number; heapUsed: number; external: number };

const send = (m: SoakMessage): void => void process.send!(m);

const backend = (process.env.SOAK_BACKEND ?? 'sqlite') as Backend;
const t = await startTestApp(
  {
    SSPR_SCOPE: 'all',
    SSPR_METHODS: 'email,authenticator_app,recovery_codes',
    SSPR_METHODS_REQUIRED: '1',
    // Every request comes from 127.0.0.1.
    SIGNIN_IP_MAX_FAILURES: '100000',
    RESET_STARTS_PER_IP: '10000',
    PASSWORD_HISTORY: '1',
  },
  {},
  backend,
);

const accounts: SoakAccounts = { signin: [], reset: [] };
const now = t.services.clock();
for (let i = 0; i < Number(process.env.SOAK_SIGNIN_ACCOUNTS ?? '40'); i += 1) {
  const login = `soak-user-${i}`;
  const password = `soak-pass-${i}-amber-harbour-wind`;
  const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password });
  const method: MethodRecord = { id: `e-${i}`, kind: 'email', address: `${login}.home@example.org`, registeredAt: now, confirmedAt: now };
  await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [method], bootstrapProvenAt: now }));
  accounts.signin.push({ login, password });
}
for (let i = 0; i < Number(process.env.SOAK_RESET_ACCOUNTS ?? '150'); i += 1) {
  const login = `soak-reset-${i}`;
  const password = `copper-meadow-rain-${i}-first`;
  const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password });
  const totp = generateSecret();
  const method: MethodRecord = { id: `t-${i}`, kind: 'authenticator_app', secret: t.services.box.seal(totp), lastStep: 0, registeredAt: now, confirmedAt: now };
  await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [method], bootstrapProvenAt: now }));
  accounts.reset.push({ login, password, totp });
}

// Every thread of the pool hashes a few times before the run: each keeps its own argon2
// buffer (and malloc arena) once used, which is growth of the first minutes, not a leak.
const pool = Number(process.env.UV_THREADPOOL_SIZE ?? '4');
for (let round = 0; round < 3; round += 1) await Promise.all(Array.from({ length: pool * 2 }, () => t.services.hasher.hash('warm-up-the-pool')));

process.on('message', (m: unknown) => {
  if (m === 'stats') {
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    send({ stats: true, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external });
  } else if (m === 'stop') {
    void t.close().finally(() => process.exit(0));
  }
});
send({ ready: true, url: t.url, redirectUri: t.redirectUri, accounts });
