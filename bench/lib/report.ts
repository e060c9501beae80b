/** docs/performance.md from one run's figures. */
import type { LoadResult } from './load.ts';
import type { StoreCostResult } from './store-cost.ts';

export interface HashProbe {
  m: number;
  t: number;
  p: number;
  pool: number;
  concurrency: number;
  verifies: number;
  perSecond: number;
  cpuMsPerVerify: number;
  p50: number;
}

export interface StoreReport {
  kind: 'sqlite' | 'redis';
  workers: number;
  idleRss: number[];
  peakRss: number[];
  loads: Record<string, LoadResult>;
  /** The bare baseline's figures, measured in windows taking turns with this store's. */
  bare: Record<string, LoadResult>;
  /** One rekey process against two on the same store, in windows taking turns. */
  processes: Record<string, { one: LoadResult; two: LoadResult }>;
  costs: StoreCostResult;
  hashCpuMs: number;
}

export interface Report {
  date: string;
  cores: number;
  cpuModel: string;
  node: string;
  argon2: { m: number; t: number; p: number };
  threadpool: number;
  /** Servers ran compiled (`node dist/…`) rather than under tsx. */
  compiled: boolean;
  hash: { probes: HashProbe[]; equivalents: HashProbe[]; pool: number; chosen: HashProbe };
  bare: { idleRss: number; peakRss: number };
  stores: StoreReport[];
  scale: number;
  seconds: number;
}

const SETUP =
  ' with `NODE_ENV=production` behind a simulated TLS proxy (`TRUST_PROXY_HOPS=1`, `X-Forwarded-Proto: https`, one `X-Forwarded-For` address per client), `LOG_LEVEL=warn`, SMTP to a sink. Throttle thresholds are raised inside their allowed ranges so the load is never throttled (`SIGNIN_LOCKOUT_THRESHOLD=100`, `RESET_MAX_FAILED_PROOFS=20`, `CODE_MAX_ATTEMPTS=10`, `RESET_STARTS_PER_IP=10000`, `SIGNIN_IP_MAX_FAILURES=100000`, `EMAIL_SEND_LIMIT=100`); `SSPR_PROOFS_REQUIRED=2` (an email code, then the authenticator app); `TWO_FACTOR=admins` (admins sign in with the authenticator app); `TOTP_DRIFT_STEPS=1` (one time step either side, not the default 0: a code made just before its request stays valid when the step turns under load; the check costs two more HMAC-SHA1).';

const KEYCLOAK_SIGNINS_PER_CORE = 15;
const KEYCLOAK_REFRESH_PER_CORE = 120;

const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const name = (k: 'sqlite' | 'redis'): string => (k === 'sqlite' ? 'SQLite' : 'Redis');

/** The non-hash steps and their counterpart in the bare baseline. */
const STEPS: { key: string; label: string; bareLabel: string }[] = [
  { key: 'refresh', label: 'refresh-token grant', bareLabel: 'the same grant' },
  { key: 'page', label: 'sign-in page render', bareLabel: 'interaction details + a small page' },
  { key: 'resetStart', label: 'reset start (JSON API)', bareLabel: 'a flow in a Map' },
  { key: 'resetVerify', label: 'reset code verify (wrong code)', bareLabel: 'a keyed-hash check against the Map' },
  { key: 'totp', label: 'TOTP verify at sign-in (wrong code)', bareLabel: 'interaction details + TOTP check + page' },
];

/** argon2's CPU per sign-in inside the server: its libuv pool threads (the busiest non-main threads), per sign-in. */
export function hashCpuInServer(l: LoadResult, pool: number): number {
  const ms = l.threads.reduce((sum, t) => sum + t.others.slice(0, pool).reduce((a, b) => a + b, 0), 0);
  return ms / l.ops;
}

/** Hash CPU ÷ server CPU per sign-in, the hash CPU as measured inside the server. */
type SigninKey = 'signin' | 'signinTotp' | 'signinKeycloak';

export function signinEfficiency(s: StoreReport, key: SigninKey, pool: number): number {
  const l = s.loads[key]!;
  return hashCpuInServer(l, pool) / l.cpuPerOp;
}

/** The same with the hash CPU of the hash-bound probe (argon2 alone in its own process). */
export function signinEfficiencyProbe(r: Report, s: StoreReport, key: SigninKey): number {
  const probe = key === 'signinKeycloak' ? r.hash.equivalents.find((p) => p.m === 7168 && p.t === 5)?.cpuMsPerVerify ?? NaN : s.hashCpuMs;
  return probe / s.loads[key]!.cpuPerOp;
}

/** rekey's CPU per step ÷ the bare baseline's. */
export function stepRatio(r: Report, s: StoreReport, key: string): number {
  if (key === 'signin') return (s.loads.signin!.cpuPerOp - hashCpuInServer(s.loads.signin!, r.threadpool)) / s.bare.signin!.cpuPerOp;
  return s.loads[key]!.cpuPerOp / s.bare[key]!.cpuPerOp;
}

interface Target {
  what: string;
  limit: string;
  figures: string[];
  met: boolean;
}

function targets(r: Report): Target[] {
  const out: Target[] = [];
  const per = <T>(fn: (s: StoreReport) => T): T[] => r.stores.map(fn);
  const label = (s: StoreReport, text: string): string => `${name(s.kind)}: ${text}`;

  const eff = per((s) => (['signin', 'signinTotp', 'signinKeycloak'] as const).map((k) => signinEfficiency(s, k, r.threadpool)));
  out.push({
    what: 'Sign-in efficiency (hash CPU ÷ server CPU per sign-in)',
    limit: '≥ 0.85',
    figures: r.stores.map((s, i) => label(s, `${f(eff[i]![0]!, 2)} (password), ${f(eff[i]![1]!, 2)} (TOTP), ${f(eff[i]![2]!, 2)} (password, m=7168 t=5)`)),
    met: eff.every((list) => list.every((x) => x >= 0.85)),
  });
  const perCore = per((s) => s.loads.signin!.perCoreSecond);
  out.push({
    what: `Password sign-ins per core at rekey's default argon2id (m=${r.argon2.m} t=${r.argon2.t} p=${r.argon2.p})`,
    limit: `≥ ${2 * KEYCLOAK_SIGNINS_PER_CORE}/s (2 × Keycloak's ${KEYCLOAK_SIGNINS_PER_CORE})`,
    figures: r.stores.map((s, i) => label(s, `${f(perCore[i]!)}/s (with TOTP: ${f(s.loads.signinTotp!.perCoreSecond)}/s)`)),
    met: perCore.every((x) => x >= 2 * KEYCLOAK_SIGNINS_PER_CORE),
  });
  const perCoreK = per((s) => s.loads.signinKeycloak!.perCoreSecond);
  out.push({
    what: "Password sign-ins per core at Keycloak's own argon2id (m=7168 t=5 p=1, also on OWASP's list)",
    limit: `≥ ${2 * KEYCLOAK_SIGNINS_PER_CORE}/s (2 × Keycloak's ${KEYCLOAK_SIGNINS_PER_CORE})`,
    figures: r.stores.map((s, i) => label(s, `${f(perCoreK[i]!)}/s`)),
    met: perCoreK.every((x) => x >= 2 * KEYCLOAK_SIGNINS_PER_CORE),
  });
  const worst = per((s) => {
    const ratios = [...STEPS.map((x) => ({ key: x.label, v: stepRatio(r, s, x.key) })), { key: 'sign-in without the hash', v: stepRatio(r, s, 'signin') }];
    return ratios.sort((a, b) => b.v - a.v);
  });
  out.push({
    what: 'Each non-hash step vs bare oidc-provider (server CPU per request)',
    limit: '≤ 1.3 ×',
    figures: r.stores.map((s, i) => label(s, worst[i]!.map((x) => `${x.key} ${f(x.v, 2)}×`).join(', '))),
    met: worst.every((list) => list.every((x) => x.v <= 1.3)),
  });
  const refreshPerCore = per((s) => s.loads.refresh!.perCoreSecond);
  out.push({
    what: 'Refresh-token grants per core',
    limit: `≥ ${3 * KEYCLOAK_REFRESH_PER_CORE}/s (3 × Keycloak's ${KEYCLOAK_REFRESH_PER_CORE})`,
    figures: r.stores.map((s, i) => label(s, `${f(refreshPerCore[i]!, 0)}/s`)),
    met: refreshPerCore.every((x) => x >= 3 * KEYCLOAK_REFRESH_PER_CORE),
  });
  const redis = r.stores.find((s) => s.kind === 'redis');
  if (redis) {
    const resetSteps = redis.costs.steps.filter((s) => s.step.startsWith('reset'));
    const max = Math.max(...resetSteps.map((s) => s.calls));
    out.push({
      what: 'Redis round trips per reset step',
      limit: '≤ 3',
      figures: resetSteps.map((s) => `${s.step.replace(/^reset /, '')}: ${f(s.calls)}`),
      met: max <= 3,
    });
    const sp = redis.costs.space;
    out.push({
      what: 'Redis memory per pending reset flow',
      limit: '≤ 1 KiB (1024 B)',
      figures: [
        `${f(sp.pendingBytesPerFlow ?? NaN, 0)} B held by the pending flow (used_memory growth over ${sp.flows} flows, each from its own IP, without the audit trail and client buffers)`,
        `${f(sp.bytesPerFlow, 0)} B with its \`reset.started\` audit event (${f(sp.auditBytesPerFlow ?? NaN, 0)} B, kept for AUDIT_RETENTION_DAYS after the flow ends)`,
      ],
      met: (sp.pendingBytesPerFlow ?? Infinity) <= 1024,
    });
  }
  if (!redis) {
    out.push({ what: 'Redis round trips per reset step; Redis memory per pending reset flow', limit: '≤ 3; ≤ 1 KiB', figures: ['not measured in this run (no Redis store: BENCH_STORES, or no redis-server installed)'], met: false });
  }
  const rss = per((s) => Math.max(...s.peakRss));
  out.push({
    what: 'RSS per process under the sign-in load',
    limit: '≤ 200 MB',
    figures: r.stores.map((s, i) => label(s, `${f(rss[i]!, 0)} MB`)),
    met: rss.every((x) => x <= 200),
  });
  return out;
}

export function renderReport(r: Report): string {
  const L: string[] = [];
  const row = (...cells: (string | number)[]): void => void L.push(`| ${cells.join(' | ')} |`);
  L.push('# Performance', '');
  L.push(
    `Generated by \`npm run bench\` (bench/run.ts) on ${r.date.slice(0, 16).replace('T', ' ')} UTC in ${f(r.seconds, 0)} s. Do not edit by hand: run it again.`,
    '',
  );
  L.push(
    `- Machine: ${r.cores} cores (${r.cpuModel}), Node ${r.node}, loopback only; the load generator runs on the same cores.`,
    `- argon2id m=${r.argon2.m} KiB, t=${r.argon2.t}, p=${r.argon2.p} (rekey's defaults, OWASP's recommendation); \`UV_THREADPOOL_SIZE=${r.threadpool}\` for every server (chosen from the hash bound below).`,
    `- Stores: ${r.stores.map((s) => `${name(s.kind)} (${s.workers} rekey process${s.workers > 1 ? 'es' : ''})`).join(', ')}; Redis is a \`redis-server\` of the run's own on a free port, no persistence.`,
    `- rekey runs as ${r.compiled ? '`node dist/src/server.js` (compiled as `npm run build` does, into test-artifacts/bench-build; the baseline likewise)' : '`node --import tsx src/server.ts` (the compiler refused the tree)'}` + SETUP,
    '- **Cost** is server CPU time (user + system of the server processes, from `/proc/<pid>/stat`) divided by the operations completed in the window; **per core** is operations per second of server CPU, i.e. what one fully used core serves. Throughput (per second) and latency depend on the load generator sharing the machine; costs do not.',
    `- Durations: sign-ins ${f(10 * r.scale, 0)} s at 16 clients, every other step ${f(5 * r.scale, 0)} s at 50 clients, each in four windows taking turns with the bare baseline, after a warm-up.`,
    '',
  );

  L.push('## Targets', '');
  row('target', 'limit', 'measured', 'verdict');
  row('---', '---', '---', '---');
  for (const t of targets(r)) row(t.what, t.limit, t.figures.join('<br>'), t.met ? '**met**' : '**missed**');
  L.push('');

  L.push('## 1. Hash bound', '');
  L.push('argon2id verifies of one stored hash in a process of its own, as many at a time as the thread pool has threads. CPU per verify from `process.cpuUsage()` (every thread).', '');
  row('UV_THREADPOOL_SIZE', 'argon2 p', 'verifies/s', 'CPU ms per verify', 'latency p50 ms', '');
  row('---:', '---:', '---:', '---:', '---:', '---');
  for (const p of r.hash.probes) row(p.pool, p.p, f(p.perSecond), f(p.cpuMsPerVerify), f(p.p50), p === r.hash.chosen ? '← servers use this' : '');
  L.push(
    '',
    `Servers get one pool thread per core (\`UV_THREADPOOL_SIZE=${r.threadpool}\`): argon2 is CPU-bound, so fewer threads leave cores idle, and every further thread only adds an argon2 buffer (${f(r.argon2.m / 1024, 0)} MiB) to the RSS; on a machine shared with other work a larger pool can look faster by taking CPU from the other processes. \`p=2\` splits one hash over two threads: lower latency when cores are free, no more hashes per second, and no less CPU per hash. rekey keeps p=1.`,
    '',
    `Bound on this machine: at most ≈ ${f(r.cores * (1000 / r.hash.chosen.cpuMsPerVerify), 0)} password sign-ins per second (${r.cores} cores ÷ ${f(r.hash.chosen.cpuMsPerVerify)} ms of CPU per verify), ≈ ${f(1000 / r.hash.chosen.cpuMsPerVerify, 0)} per core.`,
    '',
    "OWASP's equally strong argon2id configurations (Password Storage Cheat Sheet), same probe, one thread per core:",
    '',
  );
  row('memory KiB', 'passes', 'verifies/s', 'CPU ms per verify', 'latency p50 ms', '');
  row('---:', '---:', '---:', '---:', '---:', '---');
  for (const p of r.hash.equivalents) row(p.m, p.t, f(p.perSecond), f(p.cpuMsPerVerify), f(p.p50), p.m === r.argon2.m && p.t === r.argon2.t ? "rekey's default" : p.m === 7168 && p.t === 5 ? "Keycloak's" : '');
  L.push('');

  L.push('## 2. Full password sign-ins', '');
  L.push(
    'Authorization request → sign-in page → password → (second factor: chooser → authenticator code) → callback → token exchange (client_secret_basic, PKCE), first-party client (no consent page), a different user every time, 16 clients.',
    '',
    '**Efficiency** = hash CPU ÷ server CPU per sign-in. The hash CPU is measured inside the server: the CPU time of its libuv pool threads (where argon2 runs; the busiest threads besides the main one, from `/proc/<pid>/task/*/stat`) per sign-in. The column "probe" uses the hash bound\'s CPU per verify instead (argon2 alone in a quiet process).',
    '',
  );
  row('store', 'sign-in', 'sign-ins/s', 'p50 ms', 'p99 ms', 'server CPU ms per sign-in', 'of it argon2 (pool threads)', 'of it the rest', 'efficiency', 'efficiency (probe)', 'sign-ins per core-second');
  row('---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:');
  for (const s of r.stores) {
    for (const [key, label] of [
      ['signin', 'password only (5 requests)'],
      ['signinTotp', 'password + TOTP (9 requests)'],
      ['signinKeycloak', "password only, hash with Keycloak's m=7168 t=5"],
    ] as const) {
      const l = s.loads[key]!;
      const h = hashCpuInServer(l, r.threadpool);
      row(name(s.kind), label, f(l.perSecond), f(l.p50, 0), f(l.p99, 0), f(l.cpuPerOp, 2), f(h, 2), f(l.cpuPerOp - h, 2), f(signinEfficiency(s, key, r.threadpool), 2), f(signinEfficiencyProbe(r, s, key), 2), f(l.perCoreSecond));
    }
  }
  for (const s of r.stores) {
    const bs = s.bare.signin!;
    row(`bare oidc-provider (turns with ${name(s.kind)})`, 'no hash (5 requests)', f(bs.perSecond), f(bs.p50, 0), f(bs.p99, 0), f(bs.cpuPerOp, 2), '0', f(bs.cpuPerOp, 2), '–', '–', f(bs.perCoreSecond));
  }
  L.push('');

  L.push('## 3–4. Non-hash steps at 50 clients, against bare oidc-provider', '');
  L.push(
    'Each step runs in four windows taking turns with the bare baseline\'s (rekey, bare, rekey, bare, …), so both see the same machine. Bare oidc-provider: an in-memory adapter (a Map), the same client, key, claims, TTLs and first-party grant, a login route that does no hashing. Reset start, reset code verify and the TOTP check have no oidc-provider counterpart: the baseline does the least those steps need on the same stack (Koa routing, body parsing, the keyed hashes, JSON or a page), with the state in a `Map`.',
    '',
  );
  row('step', 'store', 'req/s', 'p99 ms', 'server CPU ms/req', 'bare: CPU ms/req', 'bare: what it does', 'ratio', 'req per core-second');
  row('---', '---', '---:', '---:', '---:', '---:', '---', '---:', '---:');
  for (const st of STEPS) {
    for (const s of r.stores) {
      const l = s.loads[st.key]!;
      const b = s.bare[st.key]!;
      row(st.label, name(s.kind), f(l.perSecond, 0), f(l.p99, 1), f(l.cpuPerOp, 2), f(b.cpuPerOp, 2), st.bareLabel, `${f(stepRatio(r, s, st.key), 2)}×`, f(l.perCoreSecond, 0));
    }
  }
  for (const s of r.stores) {
    row('sign-in without the hash', name(s.kind), '–', '–', f(s.loads.signin!.cpuPerOp - hashCpuInServer(s.loads.signin!, r.threadpool), 2), f(s.bare.signin!.cpuPerOp, 2), 'the whole bare sign-in', `${f(stepRatio(r, s, 'signin'), 2)}×`, '–');
  }
  L.push('');
  for (const s of r.stores) {
    L.push(`Bare baseline at 50 clients (turns with ${name(s.kind)}): ` + STEPS.map((st) => `${st.label} ${f(s.bare[st.key]!.perSecond, 0)}/s, p99 ${f(s.bare[st.key]!.p99, 1)} ms`).join('; ') + '.', '');
  }

  L.push('### Both cores for non-hash work: WEB_CONCURRENCY', '');
  L.push(
    'The same server started with `WEB_CONCURRENCY=2` (two workers on one port and the store), in windows taking turns with the single process; refresh-token grants at 50 clients. Its CPU counts the primary and both workers. The load generator runs on the same cores.',
    '',
  );
  row('step', 'store', '1 process: req/s', 'WEB_CONCURRENCY=2: req/s', '1 process: CPU ms/req', 'WEB_CONCURRENCY=2: CPU ms/req', '1 process: p99 ms', 'WEB_CONCURRENCY=2: p99 ms');
  row('---', '---', '---:', '---:', '---:', '---:', '---:', '---:');
  for (const s of r.stores) {
    for (const [key, x] of Object.entries(s.processes)) {
      row(STEPS.find((st) => st.key === key)?.label ?? key, name(s.kind), f(x.one.perSecond, 0), f(x.two.perSecond, 0), f(x.one.cpuPerOp, 2), f(x.two.cpuPerOp, 2), f(x.one.p99, 1), f(x.two.p99, 1));
    }
  }
  L.push('');

  L.push('## 5. Store cost', '');
  for (const s of r.stores) {
    if (s.kind === 'redis') {
      L.push(
        '### Redis',
        '',
        'One request at a time. Round trips: request/response exchanges on rekey\'s Redis connections, counted in the client (bench/lib/round-trips.ts): a command sent while its connection waits for no reply opens one, commands sent before the replies come (a pipeline, commands sent together) ride in it, and a Lua script is one whatever it runs inside; INFO and WAIT count like any command. Commands executed: `INFO commandstats` delta, Lua\'s inner commands included.',
        '',
      );
      row('step', 'round trips', 'commands executed', 'round trips by the command that opened them');
      row('---', '---:', '---:', '---');
      for (const c of s.costs.steps) row(c.step, f(c.calls), f(c.inner), Object.entries(c.byCommand ?? {}).map(([k, v]) => `${k} ${f(v)}`).join(', '));
    } else {
      L.push('### SQLite', '', 'One request at a time: statements executed (prepared statements, pragmas, execs) and transactions.', '');
      row('step', 'statements', 'transactions');
      row('---', '---:', '---:');
      for (const c of s.costs.steps) row(c.step, f(c.calls), f(c.inner));
    }
    const sp = s.costs.space;
    L.push(
      '',
      `Space per pending reset flow (${sp.flows} flows started through the domain, each from its own IP, real accounts): **${f(sp.bytesPerFlow, 0)} bytes** per flow (${s.kind === 'redis' ? '`used_memory` growth' : 'growth of the used pages of the database file'}); of it: ${Object.entries(sp.parts).map(([k, v]) => `${k} ${f(v, 0)} B`).join(', ')}.`,
      '',
    );
  }

  L.push('## 6. Memory', '');
  row('process', 'RSS idle MB', 'RSS peak under the sign-in load MB');
  row('---', '---:', '---:');
  for (const s of r.stores) s.idleRss.forEach((idle, i) => row(`rekey on ${name(s.kind)}${s.idleRss.length > 1 ? ` #${i + 1}` : ''}`, f(idle, 0), f(s.peakRss[i]!, 0)));
  row('bare oidc-provider', f(r.bare.idleRss, 0), f(r.bare.peakRss, 0));
  L.push(
    '',
    'Peak: the largest RSS sampled every 250 ms during the sign-in phases. The bare baseline keeps every interaction, session, grant and token of the run in its in-memory `Map` (nothing expires within a run), so its peak grows with the number of sign-ins and says little. rekey holds one argon2 buffer per pool thread (ARGON2_MEMORY_KIB each) once it has hashed.',
    '',
  );
  return `${L.join('\n')}\n`;
}
