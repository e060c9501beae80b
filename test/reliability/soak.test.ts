/**
 * Soak: a bounded mixed workload on loopback against one rekey process (test/reliability/
 * soak-server.ts, its own process so its memory is measured alone): concurrent sign-ins
 * (authorization code + PKCE with openid-client), refresh-token grants, and resets through
 * the JSON API (start, choose, authenticator code, new password). Every response must be the
 * expected one; p99 latency per operation and the server's RSS (after a full GC) are recorded
 * after a warm-up and at the end, printed, and RSS growth is bounded.
 *
 * CI runs it for SOAK_SECONDS=30 (default); `npm run soak` runs it for 10 minutes. Also:
 * SOAK_WORKERS (8), SOAK_BACKEND (sqlite | redis | redis-cluster), SOAK_MAX_RSS_GROWTH_MB (50).
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { totpNow } from '../support/totp.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { ROOT } from '../support/cli.ts';
import type { Backend } from '../support/test-app.ts';
import type { SoakAccounts, SoakMessage } from './soak-server.ts';
import { api } from './helpers.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? '30');
const WORKERS = Number(process.env.SOAK_WORKERS ?? '8');
const BACKEND = (process.env.SOAK_BACKEND ?? 'sqlite') as Backend;
const MAX_GROWTH_MB = Number(process.env.SOAK_MAX_RSS_GROWTH_MB ?? '50');
const MB = 1024 * 1024;

type Op = 'sign-in' | 'refresh' | 'reset';

interface Sample {
  op: Op;
  at: number;
  ms: number;
}

function p99(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

describe(`soak: ${SECONDS} s of sign-ins, refreshes and resets (${WORKERS} workers, ${BACKEND})`, function () {
  this.timeout(SECONDS * 1000 + 180_000);
  let child: ChildProcess;
  let ready: Extract<SoakMessage, { ready: true }>;
  const replies: ((m: Extract<SoakMessage, { stats: true }>) => void)[] = [];

  before(async () => {
    // On Redis the child works under a key prefix of its own and removes it when it stops.
    child = fork(new URL('./soak-server.ts', import.meta.url).pathname, [], {
      cwd: ROOT,
      execArgv: ['--expose-gc', '--import', 'tsx'],
      env: { ...process.env, SOAK_BACKEND: BACKEND },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    ready = await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`soak server exited at start-up (${code})`)));
      child.on('message', (m: SoakMessage) => {
        if ('ready' in m) resolve(m);
        else replies.shift()?.(m);
      });
    });
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  const stats = (): Promise<Extract<SoakMessage, { stats: true }>> =>
    new Promise((resolve) => {
      replies.push(resolve);
      child.send('stats');
    });

  it('no errors; p99 and RSS after a warm-up and at the end; RSS growth bounded', async () => {
    const { url, redirectUri, accounts } = ready;
    const rp = await RelyingParty.discover(url, redirectUri);
    const samples: Sample[] = [];
    const errors: string[] = [];
    const refreshTokens: string[] = [];
    const resetPool = accounts.reset.map((a) => ({ ...a, lastStep: -1, busy: false, n: 0 }));
    const counts: Record<Op, number> = { 'sign-in': 0, refresh: 0, reset: 0 };

    async function signIn(): Promise<void> {
      const acc = accounts.signin[Math.floor(Math.random() * accounts.signin.length)]!;
      const browser = new Browser(url);
      const flow = await rp.start();
      const page = await browser.open(flow.url.toString(), redirectUri);
      assert.equal(page.status, 200, `sign-in page: ${page.status}`);
      const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: acc.login, password: acc.password }, redirectUri);
      assert.ok(done.location?.startsWith(redirectUri), `sign-in: ${done.status} ${done.text.slice(0, 200)}`);
      const tokens = await rp.finish(flow, done.location!);
      assert.ok(tokens.refresh_token && tokens.access_token, 'tokens');
      refreshTokens.push(tokens.refresh_token);
      if (refreshTokens.length > 200) refreshTokens.shift();
    }

    async function refresh(): Promise<boolean> {
      if (refreshTokens.length === 0) return false;
      const i = Math.floor(Math.random() * refreshTokens.length);
      const tokens = await rp.refresh(refreshTokens[i]!);
      assert.ok(tokens.access_token, 'an access token');
      if (tokens.refresh_token) refreshTokens[i] = tokens.refresh_token;
      return true;
    }

    /** A reset through the API with an authenticator code; false when every account used this time step already. */
    async function reset(): Promise<boolean> {
      const step = Math.floor(Date.now() / 30_000);
      const acc = resetPool.find((a) => !a.busy && a.lastStep < step);
      if (!acc) return false;
      acc.busy = true;
      try {
        const started = await api({ url }, 'post', '/api/v1/resets', { body: { identifier: acc.login } });
        assert.equal(started.status, 201, `start: ${JSON.stringify(started.body)}`);
        const flow = String(started.body.flow);
        const secret = String(started.body.secret);
        const ref = (started.body.methods as { ref: string; kind: string }[]).find((m) => m.kind === 'authenticator_app')!.ref;
        const chosen = await api({ url }, 'post', `/api/v1/resets/${flow}/choose`, { secret, body: { ref } });
        assert.equal(chosen.status, 200, `choose: ${JSON.stringify(chosen.body)}`);
        // totpNow may wait for the next step: the step spent is the one the code was made in.
        const code = await totpNow(acc.totp);
        acc.lastStep = Math.floor(Date.now() / 30_000);
        const proved = await api({ url }, 'post', `/api/v1/resets/${flow}/prove`, { secret, body: { code } });
        assert.equal(proved.body.state, 'new_password', `prove: ${proved.status} ${JSON.stringify(proved.body)}`);
        acc.n += 1;
        const password = `lantern-tide-${acc.login.slice(-3)}-turn-${acc.n}`;
        const done = await api({ url }, 'post', `/api/v1/resets/${flow}/password`, { secret, body: { password, confirm: password } });
        assert.equal(done.body.state, 'done', `password: ${done.status} ${JSON.stringify(done.body)}`);
        acc.password = password;
        return true;
      } finally {
        acc.busy = false;
      }
    }

    async function timed(op: Op, fn: () => Promise<boolean | void>): Promise<void> {
      const start = performance.now();
      try {
        if ((await fn()) === false) return;
        samples.push({ op, at: Date.now(), ms: performance.now() - start });
        counts[op] += 1;
      } catch (e) {
        errors.push(`${op}: ${(e as Error).message.slice(0, 300)}`);
      }
    }

    const began = Date.now();
    const warmUpEnds = began + Math.min(5_000, SECONDS * 150);
    const deadline = began + SECONDS * 1000;
    let rssStart: Extract<SoakMessage, { stats: true }> | undefined;
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const r = Math.random();
        if (r < 0.5) await timed('sign-in', signIn);
        else if (r < 0.8) await timed('refresh', refresh);
        else await timed('reset', async () => (await reset()) || (await signIn(), undefined));
      }
    };
    const measured = (async () => {
      await new Promise((r) => setTimeout(r, warmUpEnds - Date.now()));
      rssStart = await stats();
    })();
    await Promise.all([...Array.from({ length: WORKERS }, worker), measured]);
    const rssEnd = await stats();

    // Windows: the quarter of the run after the warm-up, and the last quarter.
    const span = deadline - warmUpEnds;
    const startWindow = samples.filter((s) => s.at >= warmUpEnds && s.at < warmUpEnds + span / 4);
    const endWindow = samples.filter((s) => s.at >= deadline - span / 4);
    const row = (w: Sample[]) => (['sign-in', 'refresh', 'reset'] as Op[]).map((op) => p99(w.filter((s) => s.op === op).map((s) => s.ms)));
    const [s1, s2, s3] = row(startWindow);
    const [e1, e2, e3] = row(endWindow);
    const growth = rssEnd.rss - rssStart!.rss;
    const fmt = (ms: number | undefined) => (Number.isNaN(ms) ? '     –' : `${ms!.toFixed(0).padStart(5)} ms`);
    const total = counts['sign-in'] + counts.refresh + counts.reset;
    console.log(
      [
        `      soak ${SECONDS} s, ${WORKERS} workers, ${BACKEND}: ${total} operations (${counts['sign-in']} sign-ins, ${counts.refresh} refreshes, ${counts.reset} resets), ${(total / SECONDS).toFixed(1)}/s, ${errors.length} errors`,
        `               p99 sign-in  p99 refresh  p99 reset    RSS (after GC)   heap used`,
        `      start    ${fmt(s1)}     ${fmt(s2)}     ${fmt(s3)}   ${(rssStart!.rss / MB).toFixed(1).padStart(8)} MB   ${(rssStart!.heapUsed / MB).toFixed(1).padStart(6)} MB`,
        `      end      ${fmt(e1)}     ${fmt(e2)}     ${fmt(e3)}   ${(rssEnd.rss / MB).toFixed(1).padStart(8)} MB   ${(rssEnd.heapUsed / MB).toFixed(1).padStart(6)} MB   (RSS ${growth >= 0 ? '+' : ''}${(growth / MB).toFixed(1)} MB)`,
      ].join('\n'),
    );
    assert.deepEqual(errors.slice(0, 10), [], `${errors.length} errors`);
    assert.ok(counts['sign-in'] > 0 && counts.refresh > 0 && counts.reset > 0, `every operation ran: ${JSON.stringify(counts)}`);
    assert.ok(growth < MAX_GROWTH_MB * MB, `RSS grew by ${(growth / MB).toFixed(1)} MB (limit ${MAX_GROWTH_MB} MB)`);
  });
});
