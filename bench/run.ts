/**
 * `npm run bench`: rekey's capacity, measured side by side in one run on this machine, written
 * to docs/performance.md (and test-artifacts/bench.json).
 *
 *   1. the hash bound (argon2id verifies per second, CPU per verify, thread-pool sizes);
 *   2. full password sign-ins (2FA off, and with TOTP) against a real rekey process;
 *   3. non-hash steps at 50 concurrent clients;
 *   4. the same steps on bare oidc-provider (memory adapter, no hashing);
 *   5. store cost: Redis round trips / SQLite statements per step, bytes per pending reset flow;
 *   6. RSS per process, idle and under the sign-in load;
 *
 * for SQLite and for Redis (a redis-server of its own on a free port). Loopback only; every
 * process it starts is stopped at the end, on Ctrl-C and on errors.
 *
 * Environment: BENCH_STORES=sqlite,redis  BENCH_SCALE=1 (durations ×)  BENCH_WORKERS=auto|1|2
 * (rekey processes on the shared store for the load phases)  BENCH_OUT=docs/performance.md
 */
import { cpus } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { buildServers, serversCompiled, startScript, startTsx, freePort, waitFor, rssMb, rssSampler, ROOT } from './lib/proc.ts';
import { runLoad, type LoadResult } from './lib/load.ts';
import { send } from './lib/http.ts';
import {
  bareSignIn,
  clientEntry,
  openSigninPage,
  openTotpPage,
  refresh,
  rekeySignIn,
  renderPage,
  resetChoose,
  resetStart,
  resetWrongCode,
  targetFor,
  wrongTotp,
  type ResetFlow,
  type Target,
} from './lib/flows.ts';
import { startRedis, startSmtpSink, type BenchRedis, type SmtpSink } from './lib/aux.ts';
import { makeKeys, PASSWORD, rekeyEnv, seed, startRekey, type Keys, type Population, type RekeyServer, type SeededUser } from './lib/rekey.ts';
import { measureStoreCost, type StoreCostResult } from './lib/store-cost.ts';
import { renderReport, type HashProbe, type Report, type StoreReport } from './lib/report.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,redis').split(',').map((s) => s.trim()) as ('sqlite' | 'redis')[];
const OUT = process.env.BENCH_OUT ?? join(ROOT, 'docs/performance.md');
const SIGNIN_MS = Math.round(10_000 * SCALE);
const STEP_MS = Math.round(5_000 * SCALE);
const WARMUP_MS = Math.round(1_500 * Math.min(1, SCALE + 0.3));
const SIGNIN_CONCURRENCY = 16;
const STEP_CONCURRENCY = 50;
const FLOWS = Number(process.env.BENCH_FLOWS ?? 10_000);
const USERS = 2000;
const ADMINS = 1000;

const started = Date.now();
function progress(s: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${t}s] ${s}\n`);
}

const config = parseConfig({ NODE_ENV: 'test', ...pick(process.env, ['ARGON2_MEMORY_KIB', 'ARGON2_TIME_COST', 'ARGON2_PARALLELISM']) });
const argon2 = { m: config.ARGON2_MEMORY_KIB, t: config.ARGON2_TIME_COST, p: config.ARGON2_PARALLELISM };

function pick(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (env[n]) out[n] = env[n]!;
  return out;
}

// --- 1. hash bound -----------------------------------------------------------------------------

async function hashProbe(pool: number, p: number, concurrency: number, ms: number): Promise<HashProbe> {
  const child = startTsx('bench/hash-bound.ts', {
    UV_THREADPOOL_SIZE: String(pool),
    BENCH_M: String(argon2.m),
    BENCH_T: String(argon2.t),
    BENCH_P: String(p),
    BENCH_CONCURRENCY: String(concurrency),
    BENCH_MS: String(ms),
  });
  const code = await new Promise<number | null>((resolve) => child.proc.once('exit', resolve));
  const line = child.tail().trim().split('\n').pop() ?? '';
  if (code !== 0) throw new Error(`hash probe failed: ${child.tail()}`);
  return JSON.parse(line) as HashProbe;
}

async function hashBound(): Promise<{ probes: HashProbe[]; pool: number; chosen: HashProbe }> {
  const cores = cpus().length;
  const ms = Math.round(3000 * SCALE);
  const probes: HashProbe[] = [];
  const pools = [...new Set([1, cores, 4, 2 * cores])].sort((a, b) => a - b);
  for (const pool of pools) {
    progress(`hash bound: UV_THREADPOOL_SIZE=${pool}, p=${argon2.p}, ${pool} verifies at a time`);
    probes.push(await hashProbe(pool, argon2.p, pool, ms));
    progress(`  ${probes.at(-1)!.perSecond.toFixed(1)} verifies/s, ${probes.at(-1)!.cpuMsPerVerify.toFixed(1)} ms CPU each`);
  }
  if (argon2.p === 1) {
    progress(`hash bound: p=2 (for comparison), UV_THREADPOOL_SIZE=${cores}`);
    probes.push(await hashProbe(cores, 2, cores, ms));
    progress(`  ${probes.at(-1)!.perSecond.toFixed(1)} verifies/s, ${probes.at(-1)!.cpuMsPerVerify.toFixed(1)} ms CPU each`);
  }
  // One thread per core at least (fewer leaves cores idle whatever a noisy probe says); then
  // the smallest pool within 10 % of the best throughput (more threads only add memory: one
  // argon2 buffer each) at the configured parallelism.
  const same = probes.filter((p) => p.p === argon2.p && p.pool >= cores);
  const best = Math.max(...same.map((p) => p.perSecond));
  const chosen = same.find((p) => p.perSecond >= 0.9 * best)!;
  return { probes, pool: chosen.pool, chosen };
}

// --- the phases against one server (rekey or bare) ---------------------------------------------

interface Servers {
  targets: (clientNo: number) => Target;
  pids: number[];
}

function serversOf(list: { base: string; pid: number }[], issuer: string): Servers {
  return { targets: (n) => targetFor(list[n % list.length]!.base, issuer, n), pids: list.map((s) => s.pid) };
}

async function signinLoad(name: string, s: Servers, op: (t: Target, n: number) => Promise<string | undefined>, tokens: string[]): Promise<LoadResult> {
  progress(`  ${name}: ${SIGNIN_CONCURRENCY} clients, ${SIGNIN_MS / 1000} s`);
  let seq = 0;
  const r = await runLoad({
    name,
    concurrency: SIGNIN_CONCURRENCY,
    durationMs: SIGNIN_MS,
    warmupMs: WARMUP_MS,
    pids: s.pids,
    op: async (w) => {
      const rt = await op(s.targets(w), seq++);
      if (rt && tokens.length < 5000) tokens.push(rt);
    },
  });
  const pool = r.threads.reduce((sum, t) => sum + t.others.slice(0, threadpool).reduce((a, b) => a + b, 0), 0) / r.ops;
  progress(`    ${r.perSecond.toFixed(1)}/s, ${r.cpuPerOp.toFixed(1)} ms server CPU each (pool threads ${pool.toFixed(1)}, main thread ${(r.threads.reduce((a, t) => a + t.main, 0) / r.ops).toFixed(1)}), p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}`);
  return r;
}

async function stepLoad(name: string, s: Servers, op: (w: number, n: number) => Promise<boolean | void>): Promise<LoadResult> {
  const r = await runLoad({ name, concurrency: STEP_CONCURRENCY, durationMs: STEP_MS, warmupMs: WARMUP_MS, pids: s.pids, op });
  progress(`  ${name}: ${r.perSecond.toFixed(0)}/s, ${r.cpuPerOp.toFixed(2)} ms server CPU each, p99 ${r.p99.toFixed(1)} ms${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}${r.exhausted ? ' (ran out of prepared work)' : ''}`);
  return r;
}

async function inBatches<T>(n: number, batch: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => fn(i + j)))));
  return out;
}

/** Refresh grants: each client refreshes one of the tokens from the sign-ins (rotated ones replaced). */
function refreshOp(s: Servers, tokens: string[]) {
  return async (w: number, n: number): Promise<void> => {
    const slot = (w + n * STEP_CONCURRENCY) % tokens.length;
    const res = await refresh(s.targets(w), tokens[slot]!);
    if (res.refresh_token) tokens[slot] = res.refresh_token;
  };
}

// --- baseline ------------------------------------------------------------------------------------

async function baseline(keys: Keys, pool: number): Promise<Report['bare']> {
  const port = await freePort();
  const issuer = `https://127.0.0.1:${port}`;
  const defaults = parseConfig({ NODE_ENV: 'test' });
  const ttl = {
    AccessToken: defaults.ACCESS_TOKEN_TTL_SECONDS,
    AuthorizationCode: 60,
    IdToken: defaults.ID_TOKEN_TTL_SECONDS,
    Interaction: defaults.INTERACTION_TTL_SECONDS,
    Session: defaults.SESSION_TTL_SECONDS,
    Grant: Math.max(defaults.SESSION_TTL_SECONDS, defaults.REFRESH_TOKEN_TTL_SECONDS),
    RefreshToken: defaults.REFRESH_TOKEN_TTL_SECONDS,
  };
  const child = startScript('bench/baseline-server.ts', {
    ISSUER: issuer,
    PORT: String(port),
    JWKS: keys.JWKS,
    COOKIE_KEYS: keys.COOKIE_KEYS,
    BENCH_TTL: JSON.stringify(ttl),
    BENCH_CLIENT: JSON.stringify(clientEntry()),
    UV_THREADPOOL_SIZE: String(pool),
    NODE_ENV: 'production',
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor('bare oidc-provider', async () => (await send(`${base}/.well-known/openid-configuration`)).status === 200, 30_000, child);
    const s = serversOf([{ base, pid: child.pid }], issuer);
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssMb(child.pid);
    const sampler = rssSampler([child.pid]);
    const out: Record<string, LoadResult> = {};
    const tokens: string[] = [];
    let user = 0;
    out.signin = await signinLoad('bare sign-in (no hash)', s, async (t) => (await bareSignIn(t, `u${user++ % USERS}`)).refresh_token, tokens);
    const peakRss = [...sampler.stop().values()][0]!;
    out.refresh = await stepLoad('bare refresh-token grant', s, refreshOp(s, tokens));
    const pages = await inBatches(STEP_CONCURRENCY, 10, (w) => openSigninPage(s.targets(w)));
    out.page = await stepLoad('bare sign-in page render', s, (w) => renderPage(s.targets(w), pages[w]!));
    out.resetStart = await stepLoad('bare reset start', s, async (w, n) => {
      await resetStart(s.targets(w), '/bare/resets', `u${(w * 1000 + n) % USERS}`);
    });
    const flows = await inBatches(STEP_CONCURRENCY, 10, (w) => resetStart(s.targets(w), '/bare/resets', `u${w}`));
    out.resetVerify = await stepLoad('bare reset code verify', s, (w) => resetWrongCode(s.targets(w), '/bare/resets', flows[w]!));
    out.totp = await stepLoad('bare TOTP verify', s, (w) => wrongTotp(s.targets(w), pages[w]!, 'otp'));
    return { loads: out, idleRss, peakRss };
  } finally {
    await child.stop();
  }
}

// --- one store ---------------------------------------------------------------------------------

async function benchStore(kind: 'sqlite' | 'redis', keys: Keys, smtp: SmtpSink, pool: number, hashCpuMs: number, workers: number): Promise<StoreReport> {
  progress(`${kind}: preparing`);
  const dataDir = mkdtempSync(join(tmpdir(), `rekey-bench-${kind}-`));
  let redis: BenchRedis | undefined;
  const servers: RekeyServer[] = [];
  try {
    if (kind === 'redis') redis = await startRedis();
    const ports = await Promise.all(Array.from({ length: workers }, () => freePort()));
    const issuer = `https://127.0.0.1:${ports[0]}`;
    const env = rekeyEnv({ dataDir, keys, smtpUrl: smtp.url, issuer, argon2, threadpool: pool, ...(redis ? { redisUrl: redis.url } : {}) });
    progress(`${kind}: seeding ${USERS} users and ${ADMINS} admins (email + authenticator app)`);
    const pop: Population = await seed(env, USERS, ADMINS);
    progress(`${kind}: starting ${workers} rekey process${workers > 1 ? 'es' : ''}`);
    for (const [i, port] of ports.entries()) {
      // Processes share the store; each SQLite process opens the same file.
      servers.push(await startRekey({ ...env, DATA_DIR: dataDir }, port));
      void i;
    }
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = servers.map((s) => rssMb(s.child.pid));
    const s = serversOf(servers.map((x) => ({ base: x.base, pid: x.child.pid })), issuer);
    const loads: Record<string, LoadResult> = {};
    const tokens: string[] = [];

    // 2. Sign-ins.
    const sampler = rssSampler(s.pids);
    let u = 0;
    loads.signin = await signinLoad('sign-in, password only', s, async (t) => {
      const user = pop.users[u++ % pop.users.length]!;
      return (await rekeySignIn(t, { login: user.login, password: PASSWORD })).refresh_token;
    }, tokens);
    const admins = [...pop.admins];
    const takeAdmin = (): SeededUser => admins.shift() ?? fail('out of admins: raise ADMINS');
    loads.signinTotp = await signinLoad('sign-in with TOTP', s, async (t) => {
      const a = takeAdmin();
      return (await rekeySignIn(t, { login: a.login, password: PASSWORD, totp: a.totp })).refresh_token;
    }, tokens);
    const peakRss = [...sampler.stop().values()];

    // 3. Non-hash steps.
    progress(`${kind}: non-hash steps, ${STEP_CONCURRENCY} clients, ${STEP_MS / 1000} s each`);
    loads.refresh = await stepLoad('refresh-token grant', s, refreshOp(s, tokens));
    const pages = await inBatches(STEP_CONCURRENCY, 10, (w) => openSigninPage(s.targets(w)));
    loads.page = await stepLoad('sign-in page render', s, (w) => renderPage(s.targets(w), pages[w]!));
    let r = 0;
    loads.resetStart = await stepLoad('reset start', s, async (w) => {
      await resetStart(s.targets(w), '/api/v1/resets', pop.users[r++ % pop.users.length]!.login);
    });
    // Flows at the code step: two per account, nine wrong codes each (the tenth would end the
    // code, the twentieth failed proof would block the account's resets).
    const flowCount = 600;
    progress(`  preparing ${flowCount} reset flows at the email-code step`);
    const queue = await inBatches(flowCount, 25, async (i) => {
      const t = s.targets(i);
      const f = await resetStart(t, '/api/v1/resets', pop.users[i % (flowCount / 2)]!.login);
      await resetChoose(t, '/api/v1/resets', f, f.methods.find((m) => m.kind === 'email')!.ref);
      return { flow: f.flow, secret: f.secret, left: 9 };
    });
    const current: ({ flow: string; secret: string; left: number } & ResetFlow)[] = [];
    loads.resetVerify = await stepLoad('reset code verify', s, async (w) => {
      let f = current[w];
      if (!f || f.left === 0) {
        f = queue.shift();
        if (!f) return false;
        current[w] = f;
      }
      f.left -= 1;
      await resetWrongCode(s.targets(w), '/api/v1/resets', f);
    });
    progress(`  preparing ${2 * STEP_CONCURRENCY} sign-ins parked at the authenticator-code page`);
    const parked = await inBatches(2 * STEP_CONCURRENCY, 10, async (i) => ({ page: await openTotpPage(s.targets(i % STEP_CONCURRENCY), { login: takeAdmin().login, password: PASSWORD }), left: 90 }));
    loads.totp = await stepLoad('TOTP verify', s, async (w) => {
      const p = parked[w]!.left > 0 ? parked[w]! : parked[w + STEP_CONCURRENCY]!;
      if (p.left === 0) return false;
      p.left -= 1;
      await wrongTotp(s.targets(w), p.page, 'second-factor');
    });
    for (const x of servers) await x.child.stop();
    servers.length = 0;

    // 5. Store cost, counted in this process.
    progress(`${kind}: store cost per step (one request at a time)`);
    const costs: StoreCostResult = await measureStoreCost({
      env: { ...env, DATA_DIR: dataDir },
      backend: kind,
      ...(redis ? { redis } : {}),
      smtp,
      users: pop.users.slice(pop.users.length - 60),
      admins,
      sqliteFile: join(dataDir, 'rekey.sqlite'),
      flows: FLOWS,
      progress,
    });
    return { kind, workers, idleRss, peakRss, loads, costs, hashCpuMs };
  } finally {
    for (const x of servers) await x.child.stop();
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function fail(message: string): never {
  throw new Error(message);
}

/** UV_THREADPOOL_SIZE of the servers (set once the hash bound chose it). */
let threadpool = 4;

async function main(): Promise<void> {
  progress(`rekey bench: ${cpus().length} cores, Node ${process.version}, argon2id m=${argon2.m} t=${argon2.t} p=${argon2.p}, stores ${STORES.join(', ')}`);
  progress('compiling the servers (as npm run build does) into test-artifacts/bench-build');
  const build = buildServers();
  if (!build.ok) progress(`  the compiler refused the tree; servers run under tsx instead:\n${build.message}`);
  const hash = await hashBound();
  progress(`hash bound: UV_THREADPOOL_SIZE=${hash.pool}: ${hash.chosen.perSecond.toFixed(1)} verifies/s, ${hash.chosen.cpuMsPerVerify.toFixed(1)} ms CPU each`);
  threadpool = hash.pool;
  const keys = makeKeys();
  const smtp = await startSmtpSink();
  const workersSetting = process.env.BENCH_WORKERS ?? '1';
  const workers = Number(workersSetting) || 1;
  try {
    progress('bare oidc-provider baseline');
    const bare = await baseline(keys, hash.pool);
    const stores: StoreReport[] = [];
    for (const kind of STORES) stores.push(await benchStore(kind, keys, smtp, hash.pool, hash.chosen.cpuMsPerVerify, workers));
    const report: Report = {
      date: new Date().toISOString(),
      cores: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      argon2,
      threadpool: hash.pool,
      compiled: serversCompiled(),
      hash,
      bare,
      stores,
      scale: SCALE,
      seconds: (Date.now() - started) / 1000,
    };
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    writeFileSync(join(ROOT, 'test-artifacts/bench.json'), JSON.stringify(report, null, 2));
    const md = renderReport(report);
    writeFileSync(OUT, md);
    process.stdout.write(md);
    progress(`written to ${OUT} in ${report.seconds.toFixed(0)} s`);
  } finally {
    await smtp.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
