/**
 * Development aid (not part of `npm run bench`): server CPU of each request of a password
 * sign-in, rekey against the bare baseline, one request at a time (so each request's CPU is its
 * own). CPU comes from /proc/<pid>/task/<tid>/schedstat (nanoseconds): the main thread (the
 * event loop) and the other threads (argon2's pool, GC helpers) apart.
 *
 *   BENCH_STORE=sqlite|redis [BENCH_NODE_ARGS=...] node --import tsx bench/per-request.ts
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServers, freePort, startScript, waitFor } from './lib/proc.ts';
import { observeRequests, send } from './lib/http.ts';
import { bareSignIn, clientEntry, rekeySignIn, targetFor } from './lib/flows.ts';
import { startRedis, startSmtpSink } from './lib/aux.ts';
import { makeKeys, PASSWORD, rekeyEnv, seed } from './lib/rekey.ts';
import { parseConfig } from '../src/config/load.ts';

const N = Number(process.env.N ?? 200);
const store = process.env.BENCH_STORE ?? 'sqlite';
if (!buildServers().ok) throw new Error('build failed');
const keys = makeKeys();
const smtp = await startSmtpSink();
const redis = store === 'redis' ? await startRedis() : undefined;

function threadNs(pid: number): { main: number; other: number } {
  let main = 0;
  let other = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    if (Number(tid) === pid) main += ns;
    else other += ns;
  }
  return { main, other };
}

/** /interaction/<uid>/password → /interaction/:uid/password: requests grouped by route. */
const route = (method: string, url: string): string =>
  `${method} ${new URL(url).pathname.replace(/\/(interaction|auth)\/[A-Za-z0-9_-]{10,}/, '/$1/:uid')}`;

async function measure(name: string, pid: number, run: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 20; i += 1) await run(i);
  const by = new Map<string, { n: number; main: number; other: number }>();
  let at = threadNs(pid);
  observeRequests((phase, method, url) => {
    const now = threadNs(pid);
    if (phase === 'after') {
      const k = route(method, url);
      const e = by.get(k) ?? { n: 0, main: 0, other: 0 };
      e.n += 1;
      e.main += now.main - at.main;
      e.other += now.other - at.other;
      by.set(k, e);
    }
    at = now;
  });
  for (let i = 0; i < N; i += 1) await run(1000 + i);
  observeRequests(undefined);
  console.log(`\n${name} (${N} sign-ins, one request at a time): server CPU per request, ms`);
  let main = 0;
  let other = 0;
  for (const [k, e] of by) {
    console.log(`  ${k.padEnd(40)} main ${(e.main / e.n / 1e6).toFixed(3)}  other threads ${(e.other / e.n / 1e6).toFixed(3)}`);
    main += e.main / N;
    other += e.other / N;
  }
  console.log(`  ${'per sign-in'.padEnd(40)} main ${(main / 1e6).toFixed(3)}  other threads ${(other / 1e6).toFixed(3)}`);
}

const dataDir = mkdtempSync(join(tmpdir(), 'rekey-perreq-'));
const port = await freePort();
const issuer = `https://127.0.0.1:${port}`;
const env = rekeyEnv({ dataDir, keys, smtpUrl: smtp.url, issuer, argon2: { m: 19456, t: 2, p: 1 }, threadpool: 2, ...(redis ? { redisUrl: redis.url } : {}) });
const pop = await seed(env, N + 40, 10);
// BENCH_NODE_ARGS (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof) goes to rekey's node.
const rekey = startScript('src/server.ts', { ...env, PORT: String(port) }, (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean));
const base = `http://127.0.0.1:${port}`;
await waitFor('rekey', async () => (await send(`${base}/readyz`)).status === 200, 60_000, rekey);

const bport = await freePort();
const bissuer = `https://127.0.0.1:${bport}`;
const d = parseConfig({ NODE_ENV: 'test' });
const bare = startScript('bench/baseline-server.ts', {
  ISSUER: bissuer,
  PORT: String(bport),
  JWKS: keys.JWKS,
  COOKIE_KEYS: keys.COOKIE_KEYS,
  BENCH_TTL: JSON.stringify({ AccessToken: d.ACCESS_TOKEN_TTL_SECONDS, AuthorizationCode: 60, IdToken: d.ID_TOKEN_TTL_SECONDS, Interaction: d.INTERACTION_TTL_SECONDS, Session: d.SESSION_TTL_SECONDS, Grant: d.SESSION_TTL_SECONDS, RefreshToken: d.REFRESH_TOKEN_TTL_SECONDS }),
  BENCH_CLIENT: JSON.stringify(clientEntry()),
  UV_THREADPOOL_SIZE: '2',
  NODE_ENV: 'production',
});
const bbase = `http://127.0.0.1:${bport}`;
await waitFor('bare', async () => (await send(`${bbase}/.well-known/openid-configuration`)).status === 200, 30_000, bare);

await measure(`rekey on ${store}`, rekey.pid, (i) => rekeySignIn(targetFor(base, issuer, i), { login: pop.users[i % pop.users.length]!.login, password: PASSWORD }));
await measure('bare oidc-provider', bare.pid, (i) => bareSignIn(targetFor(bbase, bissuer, i), `u${i}`));
await rekey.stop();
await bare.stop();
await smtp.stop();
await redis?.stop();
process.exit(0);
