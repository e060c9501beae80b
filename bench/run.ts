/**
 * `npm run bench`: rekey's capacity, measured side by side in one run on this machine, written
 * to docs/performance.md (and test-artifacts/bench.json).
 *
 *   1. the hash bound (argon2id verifies per second, CPU per verify, thread-pool sizes);
 *   2. full password sign-ins (2FA off, and with TOTP) against a real rekey process;
 *   3. non-hash steps at 50 concurrent clients;
 *   4. the same steps on bare oidc-provider (memory adapter, no hashing), in windows taking
 *      turns with rekey's, so a machine that gets busier weighs on both alike;
 *   5. store cost: Redis round trips / SQLite statements per step, bytes per pending reset flow;
 *   6. RSS per process, idle and under the sign-in load;
 *
 * for SQLite and for Redis (a redis-server of its own on a free port). Loopback only; every
 * process it starts is stopped at the end, on Ctrl-C and on errors.
 *
 * Environment: BENCH_STORES=sqlite,redis  BENCH_SCALE=1 (durations ×)  BENCH_WORKERS=1 (rekey
 * processes on the shared store)  BENCH_FLOWS=10000  BENCH_OUT=docs/performance.md
 * BENCH_NO_CLUSTER=1 (skip the WEB_CONCURRENCY comparison, e.g. for a tree without it)
 */
import { execFileSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { buildServers, childPids, serversCompiled, startScript, startTsx, freePort, waitFor, rssMb, rssSampler, ROOT, type Child } from './lib/proc.ts';
import { runLoad, runPaired, mergeLoads, type LoadOptions, type LoadResult } from './lib/load.ts';
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
  type Target,
} from './lib/flows.ts';
import { startRedis, startSmtpSink, type BenchRedis, type SmtpSink } from './lib/aux.ts';
import { KEYCLOAK_ARGON2, makeKeys, PASSWORD, rekeyEnv, seed, startRekey, type Keys, type Population, type RekeyServer, type SeededUser } from './lib/rekey.ts';
import { measureStoreCost, type StoreCostResult } from './lib/store-cost.ts';
import { hashCpuInServer, renderReport, type HashProbe, type Report, type StoreReport } from './lib/report.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,redis').split(',').map((s) => s.trim()) as ('sqlite' | 'redis')[];
const OUT = process.env.BENCH_OUT ?? join(ROOT, 'docs/performance.md');
const WORKERS = Math.max(1, Number(process.env.BENCH_WORKERS ?? 1) || 1);
/** Per side: sign-ins 10 s, every other step 5 s, in ROUNDS windows taking turns. */
const SIGNIN_MS = Math.round(10_000 * SCALE);
const STEP_MS = Math.round(5_000 * SCALE);
const ROUNDS = 4;
const WARMUP_MS = Math.round(1_500 * Math.min(1, SCALE + 0.3));
const SIGNIN_CONCURRENCY = 16;
const STEP_CONCURRENCY = 50;
const FLOWS = Number(process.env.BENCH_FLOWS ?? 10_000);
const USERS = 2000;
const ADMINS = 1000;
/** Users whose stored hash has Keycloak's parameters (sign-ins at the same strength as its sizing guide). */
const OTHERS = 1000;
const RESETS = '/api/v1/resets';

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

function fail(message: string): never {
  throw new Error(message);
}

// --- 1. hash bound -------------------------------------------------------------------------------

async function hashProbe(pool: number, params: { m: number; t: number; p: number }, concurrency: number, ms: number): Promise<HashProbe> {
  const child = startTsx('bench/hash-bound.ts', {
    UV_THREADPOOL_SIZE: String(pool),
    BENCH_M: String(params.m),
    BENCH_T: String(params.t),
    BENCH_P: String(params.p),
    BENCH_CONCURRENCY: String(concurrency),
    BENCH_MS: String(ms),
  });
  const code = await new Promise<number | null>((resolve) => child.proc.once('exit', resolve));
  const line = child.tail().trim().split('\n').pop() ?? '';
  if (code !== 0) throw new Error(`hash probe failed: ${child.tail()}`);
  const probe = JSON.parse(line) as HashProbe;
  progress(`  m=${params.m} t=${params.t} p=${params.p}, UV_THREADPOOL_SIZE=${pool}: ${probe.perSecond.toFixed(1)} verifies/s, ${probe.cpuMsPerVerify.toFixed(1)} ms CPU each, ${probe.p50.toFixed(0)} ms each`);
  return probe;
}

/** OWASP's argon2id configurations of equal strength (Password Storage Cheat Sheet). */
const OWASP_EQUIVALENTS = [
  { m: 47104, t: 1, p: 1 },
  { m: 19456, t: 2, p: 1 },
  { m: 12288, t: 3, p: 1 },
  { m: 9216, t: 4, p: 1 },
  { m: 7168, t: 5, p: 1 },
];

async function hashBound(): Promise<Report['hash']> {
  const cores = cpus().length;
  const ms = Math.round(3000 * SCALE);
  const probes: HashProbe[] = [];
  progress('hash bound: argon2id verifies, as many at a time as the pool has threads');
  for (const pool of [...new Set([1, cores, 4, 2 * cores])].sort((a, b) => a - b)) probes.push(await hashProbe(pool, argon2, pool, ms));
  if (argon2.p === 1) probes.push(await hashProbe(cores, { ...argon2, p: 2 }, cores, ms));
  progress('hash bound: OWASP\'s equally strong argon2id configurations, one thread per core');
  const equivalents: HashProbe[] = [];
  for (const params of OWASP_EQUIVALENTS) equivalents.push(await hashProbe(cores, params, cores, ms));
  // argon2 is CPU-bound: one pool thread per core keeps every core busy. A larger pool adds a
  // buffer of ARGON2_MEMORY_KIB per thread (RSS) and only looks faster on a shared machine,
  // where more threads take more CPU from the other processes; the sweep above shows it.
  const chosen = probes.find((p) => p.pool === cores && p.p === argon2.p)!;
  return { probes, equivalents, pool: cores, chosen };
}

// --- servers and loads -----------------------------------------------------------------------------

interface Servers {
  targets: (clientNo: number) => Target;
  pids: number[];
}

function serversOf(list: { base: string; pid: number }[], issuer: string): Servers {
  return { targets: (n) => targetFor(list[n % list.length]!.base, issuer, n), pids: list.map((s) => s.pid) };
}

type Spec = Omit<LoadOptions, 'durationMs' | 'warmupMs'>;

function line(label: string, r: LoadResult, digits = 2): string {
  return `${label}: ${r.perSecond.toFixed(r.perSecond < 100 ? 1 : 0)}/s, ${r.cpuPerOp.toFixed(digits)} ms server CPU each, p99 ${r.p99.toFixed(1)} ms${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}${r.exhausted ? ' (ran out of prepared work)' : ''}`;
}

/** rekey's step and the bare baseline's, in windows taking turns. */
async function paired(name: string, rekey: Spec, bare: Spec, totalMs: number, labels = ['rekey', 'bare ']): Promise<{ rekey: LoadResult; bare: LoadResult }> {
  progress(`  ${name}: ${rekey.concurrency} clients, ${totalMs / 1000} s each side in ${ROUNDS} turns`);
  const { a, b } = await runPaired(rekey, bare, { rounds: ROUNDS, windowMs: Math.round(totalMs / ROUNDS), warmupMs: WARMUP_MS });
  progress(`    ${line(labels[0]!, a)}`);
  progress(`    ${line(labels[1]!, b)}`);
  return { rekey: a, bare: b };
}

async function inBatches<T>(n: number, batch: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => fn(i + j)))));
  return out;
}

/** Refresh grants: each client refreshes one of the tokens from the sign-ins (rotated ones replaced). */
function refreshOp(s: Servers, tokens: string[]) {
  let n = 0;
  return async (w: number): Promise<void> => {
    const slot = n++ % tokens.length;
    const res = await refresh(s.targets(w), tokens[slot]!);
    if (res.refresh_token) tokens[slot] = res.refresh_token;
  };
}

// --- bare oidc-provider ---------------------------------------------------------------------------

interface Bare {
  s: Servers;
  child: Child;
  idleRss: number;
  peakRss: number;
}

async function startBare(keys: Keys, pool: number): Promise<Bare> {
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
  const base = `http://127.0.0.1:${port}`;
  await waitFor('bare oidc-provider', async () => (await send(`${base}/.well-known/openid-configuration`)).status === 200, 30_000, child);
  await new Promise((r) => setTimeout(r, 1000));
  return { s: serversOf([{ base, pid: child.pid }], issuer), child, idleRss: rssMb(child.pid), peakRss: 0 };
}

// --- one store ---------------------------------------------------------------------------------------

async function benchStore(kind: 'sqlite' | 'redis', keys: Keys, smtp: SmtpSink, pool: number, hashCpuMs: number, bare: Bare): Promise<StoreReport> {
  progress(`${kind}: preparing`);
  const dataDir = mkdtempSync(join(tmpdir(), `rekey-bench-${kind}-`));
  let redis: BenchRedis | undefined;
  const servers: RekeyServer[] = [];
  try {
    if (kind === 'redis') redis = await startRedis();
    const ports = await Promise.all(Array.from({ length: WORKERS }, () => freePort()));
    const issuer = `https://127.0.0.1:${ports[0]}`;
    const env = rekeyEnv({ dataDir, keys, smtpUrl: smtp.url, issuer, argon2, threadpool: pool, ...(redis ? { redisUrl: redis.url } : {}) });
    progress(`${kind}: seeding ${USERS} users, ${ADMINS} admins and ${OTHERS} users with Keycloak's argon2 parameters (email + authenticator app)`);
    const pop: Population = await seed(env, USERS, ADMINS, { count: OTHERS, argon2: KEYCLOAK_ARGON2 });
    progress(`${kind}: starting ${WORKERS} rekey process${WORKERS > 1 ? 'es' : ''}`);
    // Several processes share the store (each SQLite process opens the same file).
    for (const port of ports) servers.push(await startRekey(env, port));
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = servers.map((x) => rssMb(x.child.pid));
    const s = serversOf(servers.map((x) => ({ base: x.base, pid: x.child.pid })), issuer);
    const b = bare.s;
    const loads: Record<string, LoadResult> = {};
    const bareLoads: Record<string, LoadResult> = {};
    const tokens: string[] = [];
    const bareTokens: string[] = [];
    const keep = (list: string[], t: string | undefined): void => {
      if (t && list.length < 5000) list.push(t);
    };

    // 2. Sign-ins (the bare one does no hashing).
    const sampler = rssSampler(s.pids);
    const bareSampler = rssSampler(b.pids);
    let u = 0;
    let bu = 0;
    const signin = await paired(
      'sign-in, password only',
      {
        name: 'sign-in',
        concurrency: SIGNIN_CONCURRENCY,
        pids: s.pids,
        op: async (w) => keep(tokens, (await rekeySignIn(s.targets(w), { login: pop.users[u++ % pop.users.length]!.login, password: PASSWORD })).refresh_token),
      },
      { name: 'bare sign-in', concurrency: SIGNIN_CONCURRENCY, pids: b.pids, op: async (w) => keep(bareTokens, (await bareSignIn(b.targets(w), `u${bu++ % USERS}`)).refresh_token) },
      SIGNIN_MS,
    );
    loads.signin = signin.rekey;
    bareLoads.signin = signin.bare;
    const admins = [...pop.admins];
    const takeAdmin = (): SeededUser => admins.shift() ?? fail('out of admins: raise ADMINS');
    progress(`  sign-in with TOTP: ${SIGNIN_CONCURRENCY} clients, ${SIGNIN_MS / 1000} s`);
    /** A sign-in load without a bare counterpart, in ROUNDS windows like the paired ones. */
    const inRounds = async (name: string, op: (w: number) => Promise<unknown>): Promise<LoadResult> => {
      const parts: LoadResult[] = [];
      for (let i = 0; i < ROUNDS; i += 1) {
        parts.push(await runLoad({ name, concurrency: SIGNIN_CONCURRENCY, durationMs: Math.round(SIGNIN_MS / ROUNDS), warmupMs: i === 0 ? WARMUP_MS : 250, pids: s.pids, op: async (w) => void (await op(w)) }));
      }
      return mergeLoads(parts);
    };
    loads.signinTotp = await inRounds('sign-in with TOTP', async (w) => {
      const a = takeAdmin();
      keep(tokens, (await rekeySignIn(s.targets(w), { login: a.login, password: PASSWORD, totp: a.totp })).refresh_token);
    });
    // The same password sign-in against stored hashes with Keycloak's parameters (m=7168 t=5).
    progress(`  sign-in, password only, hashes with m=${KEYCLOAK_ARGON2.m} t=${KEYCLOAK_ARGON2.t}: ${SIGNIN_CONCURRENCY} clients, ${SIGNIN_MS / 1000} s`);
    let k = 0;
    loads.signinKeycloak = await inRounds('sign-in, Keycloak parameters', async (w) =>
      keep(tokens, (await rekeySignIn(s.targets(w), { login: pop.others[k++ % pop.others.length]!.login, password: PASSWORD })).refresh_token),
    );
    const peakRss = [...sampler.stop().values()];
    bare.peakRss = Math.max(bare.peakRss, ...bareSampler.stop().values());
    for (const [key, label] of [['signin', 'password'], ['signinTotp', 'TOTP'], ['signinKeycloak', `password, m=${KEYCLOAK_ARGON2.m} t=${KEYCLOAK_ARGON2.t}`]] as const) {
      const l = loads[key]!;
      progress(`    ${label}: ${l.perSecond.toFixed(1)}/s, ${l.cpuPerOp.toFixed(1)} ms server CPU per sign-in, of it ${hashCpuInServer(l, pool).toFixed(1)} ms in the pool threads (argon2), p50 ${l.p50.toFixed(0)} ms, p99 ${l.p99.toFixed(0)} ms`);
    }

    // 3–4. Non-hash steps, side by side with the bare baseline.
    progress(`${kind}: non-hash steps`);
    const step = async (key: string, label: string, rekeyOp: Spec['op'], bareOp: Spec['op']): Promise<void> => {
      const r = await paired(label, { name: label, concurrency: STEP_CONCURRENCY, pids: s.pids, op: rekeyOp }, { name: `bare ${label}`, concurrency: STEP_CONCURRENCY, pids: b.pids, op: bareOp }, STEP_MS);
      loads[key] = r.rekey;
      bareLoads[key] = r.bare;
    };
    await step('refresh', 'refresh-token grant', refreshOp(s, tokens), refreshOp(b, bareTokens));

    const pages = await inBatches(STEP_CONCURRENCY, 10, (w) => openSigninPage(s.targets(w)));
    const barePages = await inBatches(STEP_CONCURRENCY, 10, (w) => openSigninPage(b.targets(w)));
    await step('page', 'sign-in page render', (w) => renderPage(s.targets(w), pages[w]!), (w) => renderPage(b.targets(w), barePages[w]!));

    let r = 0;
    let br = 0;
    await step(
      'resetStart',
      'reset start',
      async (w) => void (await resetStart(s.targets(w), RESETS, pop.users[r++ % pop.users.length]!.login)),
      async (w) => void (await resetStart(b.targets(w), '/bare/resets', `u${br++ % USERS}`)),
    );

    // Flows at the code step: two per account, nine wrong codes each (the tenth would end the
    // code, the twentieth failed proof would block the account's resets).
    const flowCount = 1500;
    progress(`  preparing ${flowCount} reset flows at the email-code step`);
    const queue = await inBatches(flowCount, 25, async (i) => {
      const t = s.targets(i);
      const f = await resetStart(t, RESETS, pop.users[i % (flowCount / 2)]!.login);
      await resetChoose(t, RESETS, f, f.methods.find((m) => m.kind === 'email')!.ref);
      return { flow: f.flow, secret: f.secret, left: 9 };
    });
    const current: { flow: string; secret: string; left: number }[] = [];
    const bareFlows = await inBatches(STEP_CONCURRENCY, 10, (w) => resetStart(b.targets(w), '/bare/resets', `u${w}`));
    await step(
      'resetVerify',
      'reset code verify',
      async (w) => {
        let f = current[w];
        if (!f || f.left === 0) {
          f = queue.shift();
          if (!f) return false;
          current[w] = f;
        }
        f.left -= 1;
        await resetWrongCode(s.targets(w), RESETS, f);
      },
      (w) => resetWrongCode(b.targets(w), '/bare/resets', bareFlows[w]!),
    );

    progress(`  preparing ${2 * STEP_CONCURRENCY} sign-ins parked at the authenticator-code page`);
    const parked = await inBatches(2 * STEP_CONCURRENCY, 10, async (i) => ({ page: await openTotpPage(s.targets(i % STEP_CONCURRENCY), { login: takeAdmin().login, password: PASSWORD }), left: 90 }));
    const bareParked = await inBatches(STEP_CONCURRENCY, 10, (w) => openSigninPage(b.targets(w)));
    await step(
      'totp',
      'TOTP verify',
      async (w) => {
        const p = parked[w]!.left > 0 ? parked[w]! : parked[w + STEP_CONCURRENCY]!;
        if (p.left === 0) return false;
        p.left -= 1;
        await wrongTotp(s.targets(w), p.page, 'second-factor');
      },
      (w) => wrongTotp(b.targets(w), bareParked[w]!, 'otp'),
    );
    // Both cores for non-hash work: the same server with WEB_CONCURRENCY=2 (two workers on the
    // port and the store) in windows taking turns with the single process.
    const processes: StoreReport['processes'] = {};
    if (WORKERS === 1 && !process.env.BENCH_NO_CLUSTER) {
      progress(`${kind}: one rekey process vs WEB_CONCURRENCY=2`);
      const clustered = await startRekey({ ...env, WEB_CONCURRENCY: '2' });
      servers.push(clustered);
      const workerPids = childPids(clustered.child.pid);
      const one = serversOf([{ base: servers[0]!.base, pid: servers[0]!.child.pid }], issuer);
      const two: Servers = { targets: (n) => targetFor(clustered.base, issuer, n), pids: [clustered.child.pid, ...workerPids] };
      const x = await paired(
        'refresh-token grant: 1 process | WEB_CONCURRENCY=2',
        { name: 'refresh', concurrency: STEP_CONCURRENCY, pids: one.pids, op: refreshOp(one, tokens) },
        { name: 'refresh', concurrency: STEP_CONCURRENCY, pids: two.pids, op: refreshOp(two, tokens) },
        STEP_MS,
        ['1 process        ', 'WEB_CONCURRENCY=2'],
      );
      processes.refresh = { one: x.rekey, two: x.bare };
    }
    for (const x of servers) await x.child.stop();
    servers.length = 0;

    // 5. Store cost, counted in this process.
    progress(`${kind}: store cost per step (one request at a time)`);
    const costs: StoreCostResult = await measureStoreCost({
      env,
      backend: kind,
      ...(redis ? { redis } : {}),
      smtp,
      users: pop.users.slice(pop.users.length - 60),
      admins,
      sqliteFile: join(dataDir, 'rekey.sqlite'),
      flows: FLOWS,
      progress,
    });
    return { kind, workers: WORKERS, idleRss, peakRss, loads, bare: bareLoads, processes, costs, hashCpuMs };
  } finally {
    for (const x of servers) await x.child.stop();
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Redis needs a `redis-server` binary to start one of the run's own. */
function redisServerInstalled(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (STORES.includes('redis') && !redisServerInstalled()) {
    progress('redis-server is not installed (apt-get install -y redis-server): the Redis store is left out of this run');
    STORES.splice(STORES.indexOf('redis'), 1);
  }
  progress(`rekey bench: ${cpus().length} cores, Node ${process.version}, argon2id m=${argon2.m} t=${argon2.t} p=${argon2.p}, stores ${STORES.join(', ')}`);
  progress('compiling the servers (as npm run build does) into test-artifacts/bench-build');
  const build = buildServers();
  if (!build.ok) progress(`  the compiler refused the tree; servers run under tsx instead:\n${build.message}`);
  const hash = await hashBound();
  progress(`servers get UV_THREADPOOL_SIZE=${hash.pool}`);
  const keys = makeKeys();
  const smtp = await startSmtpSink();
  let bare: Bare | undefined;
  try {
    progress('bare oidc-provider: starting');
    bare = await startBare(keys, hash.pool);
    const stores: StoreReport[] = [];
    for (const kind of STORES) stores.push(await benchStore(kind, keys, smtp, hash.pool, hash.chosen.cpuMsPerVerify, bare));
    const report: Report = {
      date: new Date().toISOString(),
      cores: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      argon2,
      threadpool: hash.pool,
      compiled: serversCompiled(),
      hash,
      bare: { idleRss: bare.idleRss, peakRss: bare.peakRss },
      stores,
      scale: SCALE,
      seconds: (Date.now() - started) / 1000,
    };
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    writeFileSync(join(ROOT, 'test-artifacts/bench.json'), JSON.stringify(report, (k, v: unknown) => (k === 'latencies' ? undefined : v), 2));
    const md = renderReport(report);
    writeFileSync(OUT, md);
    process.stdout.write(md);
    progress(`written to ${OUT} in ${report.seconds.toFixed(0)} s`);
  } finally {
    await bare?.child.stop();
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
