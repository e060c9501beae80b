/**
 * Before/after in one run: this tree's server against another checkout's (e.g. a git worktree
 * of an older commit with node_modules linked in), both compiled, each on its own store of the
 * same kind, the same load in windows taking turns. Prints server CPU per operation of both.
 *
 *   git worktree add /tmp/rekey-before <commit> && ln -s "$PWD/node_modules" /tmp/rekey-before/
 *   node --import tsx bench/ab.ts /tmp/rekey-before [sqlite|redis]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildServers, freePort, ROOT, startBuilt, waitFor, type Child } from './lib/proc.ts';
import { runPaired, type LoadOptions, type LoadResult } from './lib/load.ts';
import { send } from './lib/http.ts';
import { openSigninPage, openTotpPage, refresh, rekeySignIn, renderPage, resetChoose, resetStart, resetWrongCode, targetFor, wrongTotp, type Target } from './lib/flows.ts';
import { startRedis, startSmtpSink, type BenchRedis } from './lib/aux.ts';
import { makeKeys, PASSWORD, rekeyEnv, seed, type Population } from './lib/rekey.ts';

const beforeRoot = resolve(process.argv[2] ?? '');
const kind = (process.argv[3] ?? 'sqlite') as 'sqlite' | 'redis';
if (!process.argv[2]) {
  process.stderr.write('usage: ab.ts <other checkout> [sqlite|redis]\n');
  process.exit(2);
}
const SIGNIN_MS = 12_000;
const STEP_MS = 6_000;
const ROUNDS = 6;
const log = (s: string): void => void process.stderr.write(`${s}\n`);

interface Side {
  name: string;
  child: Child;
  targets: (n: number) => Target;
  pop: Population;
}

const keys = makeKeys();
const smtp = await startSmtpSink();
let redis: BenchRedis | undefined;
const dirs: string[] = [];
const sides: Side[] = [];
try {
  if (kind === 'redis') redis = await startRedis();
  for (const [name, root, prefix] of [
    ['before', beforeRoot, 'benchb:'],
    ['after', ROOT, 'bench:'],
  ] as const) {
    const build = join(root, 'test-artifacts/ab-build');
    log(`${name}: compiling ${root}`);
    const built = buildServers(root, build);
    if (!built.ok) throw new Error(`${root} does not compile:\n${built.message}`);
    const dataDir = mkdtempSync(join(tmpdir(), `rekey-ab-${name}-`));
    dirs.push(dataDir);
    const port = await freePort();
    const issuer = `https://127.0.0.1:${port}`;
    const env = { ...rekeyEnv({ dataDir, keys, smtpUrl: smtp.url, issuer, argon2: { m: 19456, t: 2, p: 1 }, threadpool: 2, ...(redis ? { redisUrl: redis.url } : {}) }), ...(redis ? { REDIS_KEY_PREFIX: prefix } : {}) };
    const pop = await seed(env, 2000, 400);
    const child = startBuilt(build, 'src/server.ts', { ...env, PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(`${name} server`, async () => (await send(`${base}/readyz`)).status === 200, 60_000, child);
    sides.push({ name, child, targets: (n) => targetFor(base, issuer, n), pop });
  }
  const [a, b] = sides as [Side, Side];
  const results: [string, LoadResult, LoadResult][] = [];
  const pair = async (label: string, concurrency: number, ms: number, op: (s: Side) => LoadOptions['op']): Promise<void> => {
    const spec = (s: Side): Omit<LoadOptions, 'durationMs' | 'warmupMs'> => ({ name: label, concurrency, pids: [s.child.pid], op: op(s) });
    const r = await runPaired(spec(a), spec(b), { rounds: ROUNDS, windowMs: Math.round(ms / ROUNDS), warmupMs: 1500 });
    results.push([label, r.a, r.b]);
    log(`${label}: before ${r.a.cpuPerOp.toFixed(3)} ms, after ${r.b.cpuPerOp.toFixed(3)} ms (${r.a.perSecond.toFixed(0)}/s, ${r.b.perSecond.toFixed(0)}/s)`);
  };
  const tokens = new Map<Side, string[]>(sides.map((s) => [s, []]));
  const counters = new Map<Side, number>(sides.map((s) => [s, 0]));
  const next = (s: Side): number => {
    const n = counters.get(s)!;
    counters.set(s, n + 1);
    return n;
  };
  await pair('sign-in, password only', 16, SIGNIN_MS, (s) => async (w) => {
    const t = await rekeySignIn(s.targets(w), { login: s.pop.users[next(s) % s.pop.users.length]!.login, password: PASSWORD });
    if (t.refresh_token) tokens.get(s)!.push(t.refresh_token);
  });
  await pair('refresh-token grant', 50, STEP_MS, (s) => async (w) => {
    const list = tokens.get(s)!;
    await refresh(s.targets(w), list[next(s) % list.length]!);
  });
  const pages = new Map<Side, Awaited<ReturnType<typeof openSigninPage>>[]>();
  for (const s of sides) pages.set(s, await Promise.all(Array.from({ length: 50 }, (_, w) => openSigninPage(s.targets(w)))));
  await pair('sign-in page render', 50, STEP_MS, (s) => (w) => renderPage(s.targets(w), pages.get(s)![w]!));
  await pair('reset start', 50, STEP_MS, (s) => async (w) => void (await resetStart(s.targets(w), '/api/v1/resets', s.pop.users[next(s) % s.pop.users.length]!.login)));
  const queues = new Map<Side, { flow: string; secret: string; left: number }[]>();
  for (const s of sides) {
    const q: { flow: string; secret: string; left: number }[] = [];
    for (let i = 0; i < 1200; i += 25) {
      q.push(
        ...(await Promise.all(
          Array.from({ length: 25 }, async (_, j) => {
            const f = await resetStart(s.targets(i + j), '/api/v1/resets', s.pop.users[(i + j) % 600]!.login);
            await resetChoose(s.targets(i + j), '/api/v1/resets', f, f.methods.find((m) => m.kind === 'email')!.ref);
            return { flow: f.flow, secret: f.secret, left: 9 };
          }),
        )),
      );
    }
    queues.set(s, q);
  }
  await pair('reset code verify (wrong code)', 50, STEP_MS, (s) => {
    const current: { flow: string; secret: string; left: number }[] = [];
    return async (w) => {
      let f = current[w];
      if (!f || f.left === 0) {
        f = queues.get(s)!.shift();
        if (!f) return false;
        current[w] = f;
      }
      f.left -= 1;
      await resetWrongCode(s.targets(w), '/api/v1/resets', f);
    };
  });
  const parked = new Map<Side, { page: Awaited<ReturnType<typeof openTotpPage>>; left: number }[]>();
  for (const s of sides) parked.set(s, await Promise.all(Array.from({ length: 100 }, async (_, i) => ({ page: await openTotpPage(s.targets(i % 50), { login: s.pop.admins[i]!.login, password: PASSWORD }), left: 95 }))));
  await pair('TOTP verify (wrong code)', 50, STEP_MS, (s) => async (w) => {
    const list = parked.get(s)!;
    const p = list[w]!.left > 0 ? list[w]! : list[w + 50]!;
    if (p.left === 0) return false;
    p.left -= 1;
    await wrongTotp(s.targets(w), p.page, 'second-factor');
  });
  const out = [`| step (${kind}) | before: CPU ms | after: CPU ms | change | before: req/s | after: req/s |`, '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const [label, x, y] of results) {
    out.push(`| ${label} | ${x.cpuPerOp.toFixed(3)} | ${y.cpuPerOp.toFixed(3)} | ${(((y.cpuPerOp - x.cpuPerOp) / x.cpuPerOp) * 100).toFixed(0)} % | ${x.perSecond.toFixed(0)} | ${y.perSecond.toFixed(0)} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  for (const s of sides) await s.child.stop();
  await redis?.stop();
  await smtp.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.exit(0);
