/**
 * A rekey process killed (SIGKILL: no cleanup, no answer) at each named point inside the
 * password-reset commit (FAULT_POINTS, test only), on SQLite and on Redis. Afterwards, from a
 * process that survived: the password and `notBefore` moved together or not at all, the flow
 * is not stuck behind the dead process's step lock (a retry answers clearly within seconds:
 * the reset completes, or "already done"), a new reset for the same user starts, and /readyz
 * says the store is fine. Production refuses to start with FAULT_POINTS set.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { FAULT_POINTS, type FaultPointName } from '../../src/domain/fault-points.ts';
import { createServices, type Services } from '../../src/services.ts';
import { seedWithMethods } from '../support/seed.ts';
import { ROOT } from '../support/cli.ts';
import { freePort } from '../support/redis.ts';
import { apiCall, HoppingBrowser, LEAK, sharedRekeyEnv, startRekeyProcess, type HttpPage, type RekeyProcess } from '../support/rekey-process.ts';
import { BACKENDS, backendEnv, type Backend } from '../support/test-app.ts';
import { assertAllOrNothing, assertClearError, NEW_PASSWORD, OLD_PASSWORD, passwordState, resetToNewPassword, setPassword, totpCode, NEXT_STEP_TOTP_ENV } from './crash-kit.ts';

/** Where a crash leaves the reset committed. */
const COMMITTED: Record<FaultPointName, boolean> = {
  'reset.commit.before': false,
  'reset.commit.mid_transaction': false,
  'reset.commit.before_wait': true,
  'reset.commit.after_write': true,
  'reset.commit.after_revoke': true,
  'reset.commit.before_response': true,
};

/** The points a backend passes (the transaction is SQLite's, WAIT is Redis'). */
function pointsOf(backend: Backend): FaultPointName[] {
  return FAULT_POINTS.filter((p) => (backend === 'sqlite' ? p !== 'reset.commit.before_wait' : p !== 'reset.commit.mid_transaction'));
}

/** A retry of a flow whose step lock a dead process may still hold must get through within this. */
const UNSTUCK_WITHIN_MS = 8_000;

for (const backend of BACKENDS.filter((b) => b !== 'redis-cluster')) {
  describe(`a rekey process killed inside the reset commit (${backend})`, function () {
    this.timeout(60_000);
    let dir: string;
    let env: Record<string, string>;
    let services: Services;
    let survivor: RekeyProcess;
    let cleanup: () => Promise<void> = async () => {};
    let n = 0;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rekey-fault-points-'));
      const store = await backendEnv(backend);
      cleanup = store.cleanup;
      const port = await freePort();
      env = sharedRekeyEnv(dir, `http://127.0.0.1:${port}`, {
        SSPR_SCOPE: 'all',
        SSPR_METHODS: 'email,authenticator_app',
        DATA_DIR: join(dir, 'data'),
        ...store.env,
        ...NEXT_STEP_TOTP_ENV,
      });
      services = await createServices(parseConfig(env));
      survivor = await startRekeyProcess(env, { port });
    });

    after(async () => {
      await survivor?.kill();
      await services?.close();
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('through the pages: the process dies at the commit; the reload shows "wait a moment", then the reset completes', async () => {
      const login = `fppage${backend.replace(/\W/g, '')}`;
      const { id, totp } = await seedWithMethods(services, login, OLD_PASSWORD);
      const victim = await startRekeyProcess({ ...env, FAULT_POINTS: 'reset.commit.before' });
      try {
        // One browser, one cookie jar; the load balancer sends it to the victim until it dies.
        const browser = new HoppingBrowser(() => [victim.port]);
        const base = survivor.url;
        const csrf = (page: HttpPage): string => /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
        const post = async (page: HttpPage, path: string, form: Record<string, string>, via?: number): Promise<HttpPage> => {
          const res = await browser.request(`${base}${path}`, { method: 'POST', form: { csrf: csrf(page), ...form }, ...(via ? { via } : {}) });
          return res.location ? browser.request(res.location, via ? { via } : {}) : res;
        };
        const identify = await browser.request(`${base}/reset`);
        const choose = await post(identify, '/reset', { identifier: login });
        const ref = /id="ref-(m\d+)" value="\1"[^>]*>\s*<label[^>]*>Authenticator app/.exec(choose.text)![1]!;
        const prove = await post(choose, '/reset/flow', { action: 'choose', ref });
        const form = await post(prove, '/reset/flow', { action: 'finish', code: await totpCode(totp) });
        assert.match(form.text, /name="password"/, form.text.slice(0, 500));
        const before = await passwordState(services, id);
        await assert.rejects(post(form, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD }));
        assert.equal((await victim.exited).signal, 'SIGKILL');
        assert.equal(await assertAllOrNothing(services, id, before), false);

        // The user reloads on the process that lives.
        let page = await post(form, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD }, survivor.port);
        if (page.status === 409) {
          assert.match(page.text, /already being processed\. Wait a moment/);
          assert.match(page.text, /name="password"/, 'the form stays, to send again');
        }
        const started = Date.now();
        while (page.status === 409 && Date.now() - started < UNSTUCK_WITHIN_MS) {
          await new Promise((r) => setTimeout(r, 500));
          page = await post(form, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD }, survivor.port);
        }
        assert.equal(page.status, 200, page.text.slice(0, 500));
        assert.match(page.text, /<h1>Password changed<\/h1>/);
        assert.doesNotMatch(page.text, LEAK);
        assert.equal(await assertAllOrNothing(services, id, before), true);
      } finally {
        await victim.kill();
      }
    });

    for (const point of pointsOf(backend)) {
      it(`${point}: ${COMMITTED[point] ? 'the reset stands whole' : 'nothing is written'}, the flow is not stuck, a new reset starts`, async () => {
        const login = `fp${++n}${backend.replace(/\W/g, '')}`;
        const { id, totp } = await seedWithMethods(services, login, OLD_PASSWORD);
        const victim = await startRekeyProcess({ ...env, FAULT_POINTS: point });
        try {
          const flow = await resetToNewPassword([victim.url], login, totp);
          const before = await passwordState(services, id);

          // The process dies inside the step: the connection drops without an answer.
          await assert.rejects(setPassword(victim.url, flow), 'no answer from a process killed mid-step');
          const { signal } = await victim.exited;
          assert.equal(signal, 'SIGKILL');
          assert.match(victim.output(), new RegExp(`fault point ${point.replace(/\./g, '\\.')} reached`));

          const committed = await assertAllOrNothing(services, id, before);
          assert.equal(committed, COMMITTED[point], committed ? 'the commit is whole' : 'nothing was committed');

          // The user retries on a process that lives: a clear answer, soon, never "busy" for long.
          const started = Date.now();
          let retry = await setPassword(survivor.url, flow);
          while (retry.status === 409 && retry.body.error === 'reset_busy' && Date.now() - started < UNSTUCK_WITHIN_MS + 2_000) {
            await new Promise((r) => setTimeout(r, 250));
            retry = await setPassword(survivor.url, flow);
          }
          const waited = Date.now() - started;
          if (committed) {
            assertClearError(retry, [409], 'retry after a commit');
            assert.equal(retry.body.error, 'reset_already_done', retry.text);
          } else {
            assert.equal(retry.status, 200, `the retry completes the reset: ${retry.text}`);
            assert.equal(retry.body.state, 'done');
          }
          assert.ok(waited < UNSTUCK_WITHIN_MS, `the dead process's step lock held the flow for ${waited} ms`);
          // Whatever the crash left, the reset is now whole.
          const now = await passwordState(services, id);
          assert.ok(await services.hasher.verify(now.passwordHash!, NEW_PASSWORD), 'the new password is in force');
          assert.ok(now.notBefore >= before.notBefore);

          // A new reset for the same user: starts and reaches the proof (not blocked, not busy).
          const again = await apiCall(survivor.url, 'POST', '/api/v1/resets', { body: { identifier: login } });
          assert.equal(again.status, 201, again.text);
          const app = (again.body.methods as { ref: string; kind: string }[]).find((m) => m.kind === 'authenticator_app')!;
          const chosen = await apiCall(survivor.url, 'POST', `/api/v1/resets/${String(again.body.flow)}/choose`, { secret: String(again.body.secret), body: { ref: app.ref } });
          assert.equal(chosen.status, 200, chosen.text);
          const proved = await apiCall(survivor.url, 'POST', `/api/v1/resets/${String(again.body.flow)}/prove`, { secret: String(again.body.secret), body: { code: await totpCode(totp, 1) } });
          assert.equal(proved.status, 200, proved.text);

          const ready = await fetch(`${survivor.url}/readyz`);
          assert.equal(ready.status, 200, 'the store is fine and /readyz says so');
        } finally {
          await victim.kill();
        }
      });
    }
  });
}

describe('FAULT_POINTS setting', () => {
  it('accepts the known points outside production and refuses unknown names', () => {
    const base = { NODE_ENV: 'test', DATA_DIR: tmpdir() };
    assert.deepEqual(parseConfig({ ...base, FAULT_POINTS: 'reset.commit.before, reset.commit.after_write' }).FAULT_POINTS, ['reset.commit.before', 'reset.commit.after_write']);
    assert.deepEqual(parseConfig(base).FAULT_POINTS, []);
    assert.throws(() => parseConfig({ ...base, FAULT_POINTS: 'reset.commit.befor' }), (e: unknown) => e instanceof ConfigError && /FAULT_POINTS="reset\.commit\.befor" is invalid; allowed: comma-separated, from: reset\.commit\.before/.test(e.message));
  });

  it('production refuses to start with it, naming the variable', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rekey-fp-prod-'));
    try {
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', FAULT_POINTS: 'reset.commit.before', DATA_DIR: dataDir },
      });
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /NODE_ENV=production refuses to start: FAULT_POINTS=reset\.commit\.before is set/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
