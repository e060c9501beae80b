/**
 * Profiling aid (not part of `npm run bench`): one rekey process with `--cpu-prof`, driven by
 * password sign-ins (or another step), then stopped; the .cpuprofile lands in BENCH_PROF_DIR.
 *
 *   BENCH_PROF_DIR=/tmp/prof BENCH_PROF_STEP=signin|refresh|page|reset-start|reset-verify|totp node --import tsx bench/profile.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './lib/load.ts';
import { startSmtpSink, startRedis } from './lib/aux.ts';
import { makeKeys, PASSWORD, rekeyEnv, seed } from './lib/rekey.ts';
import { buildServers, freePort, rssMb, rssSampler, startScript, startTsx, waitFor } from './lib/proc.ts';
import { send } from './lib/http.ts';
import { openSigninPage, openTotpPage, refresh, rekeySignIn, renderPage, resetChoose, resetStart, resetWrongCode, targetFor, wrongTotp } from './lib/flows.ts';

const dir = process.env.BENCH_PROF_DIR ?? '/tmp/prof';
const step = process.env.BENCH_PROF_STEP ?? 'signin';
const store = process.env.BENCH_PROF_STORE ?? 'sqlite';
const ms = Number(process.env.BENCH_PROF_MS ?? 8000);
const smtp = await startSmtpSink();
const redis = store === 'redis' ? await startRedis() : undefined;
const dataDir = mkdtempSync(join(process.env.BENCH_PROF_TMP ?? tmpdir(), 'rekey-prof-'));
const port = await freePort();
const issuer = `https://127.0.0.1:${port}`;
const env = rekeyEnv({ dataDir, keys: makeKeys(), smtpUrl: smtp.url, issuer, argon2: { m: 19456, t: 2, p: 1 }, threadpool: 2, ...(redis ? { redisUrl: redis.url } : {}) });
const pop = await seed(env, 1000, 300);
// BENCH_PROF_BUILT=1 runs the compiled server as `npm run bench` does (RSS comparable to its);
// BENCH_PROF_ENV="A=1 B=2" and BENCH_PROF_NODE_ARGS="--flag" try runtime settings side by side.
const extraEnv = Object.fromEntries((process.env.BENCH_PROF_ENV ?? '').split(' ').filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]));
const nodeArgs = [...(process.env.BENCH_PROF_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(process.env.BENCH_PROF_OFF ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`])];
if (process.env.BENCH_PROF_BUILT && !buildServers().ok) throw new Error('build failed');
const start = process.env.BENCH_PROF_BUILT ? startScript : startTsx;
const child = start('src/server.ts', { ...env, ...extraEnv, PORT: String(port) }, nodeArgs);
const base = `http://127.0.0.1:${port}`;
await waitFor('rekey', async () => (await send(`${base}/readyz`)).status === 200, 60_000, child);
const t = (n: number) => targetFor(base, issuer, n);
let u = 0;
const tokens: string[] = [];
const signins = async () => {
  const x = pop.users[u++ % pop.users.length]!;
  const tok = await rekeySignIn(t(u), { login: x.login, password: PASSWORD });
  if (tok.refresh_token) tokens.push(tok.refresh_token);
};
let op: (w: number) => Promise<unknown> = signins;
let conc = Number(process.env.BENCH_PROF_CONC ?? 16);
if (step !== 'signin') {
  conc = Number(process.env.BENCH_PROF_CONC ?? 50);
  for (let i = 0; i < 20; i += 1) await signins();
  const pages = await Promise.all(Array.from({ length: 50 }, (_, w) => openSigninPage(t(w))));
  if (step === 'refresh') op = (w) => refresh(t(w), tokens[w % tokens.length]!);
  if (step === 'page') op = (w) => renderPage(t(w), pages[w]!);
  if (step === 'reset-start') op = (w) => resetStart(t(w), '/api/v1/resets', pop.users[u++ % pop.users.length]!.login);
  if (step === 'reset-verify') {
    const flows = await Promise.all(Array.from({ length: 300 }, async (_, i) => {
      const f = await resetStart(t(i), '/api/v1/resets', pop.users[i]!.login);
      await resetChoose(t(i), '/api/v1/resets', f, f.methods.find((m) => m.kind === 'email')!.ref);
      return { ...f, left: 9 };
    }));
    op = async (w) => {
      const f = flows.find((x, i) => i % 50 === w && x.left > 0);
      if (!f) return;
      f.left -= 1;
      await resetWrongCode(t(w), '/api/v1/resets', f);
    };
  }
  if (step === 'totp') {
    const parked = await Promise.all(Array.from({ length: 50 }, (_, w) => openTotpPage(t(w), { login: pop.admins[w]!.login, password: PASSWORD })));
    op = (w) => wrongTotp(t(w), parked[w]!, 'second-factor');
  }
}
const idleRss = rssMb(child.pid);
const sampler = rssSampler([child.pid]);
const r = await runLoad({ name: step, concurrency: conc, durationMs: ms, warmupMs: 1000, pids: [child.pid], op: async (w) => void (await op(w)) });
const peakRss = sampler.stop().get(child.pid);
if (process.env.BENCH_PROF_SNAPSHOT) {
  // With BENCH_PROF_NODE_ARGS=--heapsnapshot-signal=SIGUSR2: what stays alive after the load.
  process.kill(child.pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, Number(process.env.BENCH_PROF_SNAPSHOT)));
}
if (extraEnv.METRICS_TOKEN) {
  // Where the memory is: V8 heap spaces and external memory at the end of the load.
  const m = await send(`${base}/metrics`, { headers: { authorization: `Bearer ${extraEnv.METRICS_TOKEN}`, 'x-forwarded-proto': 'https' } });
  console.log(m.text.split('\n').filter((l) => /^(nodejs_heap_space_size_used_bytes|nodejs_heap_size|nodejs_external|process_resident)/.test(l)).join('\n'));
}
console.log(JSON.stringify({ step, perSecond: r.perSecond, cpuPerOp: r.cpuPerOp, idleRss, peakRss, endRss: rssMb(child.pid), errors: r.errors, firstError: r.firstError }));
await child.stop();
await smtp.stop();
await redis?.stop();
process.exit(0);
