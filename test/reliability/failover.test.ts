/**
 * Redis Cluster failover as users see it: a cluster of three primaries with one replica each
 * (started here on free ports), three rekey processes sharing it, every request of a flow on
 * another process. A primary is killed mid-flow; while its replica takes over, requests get a
 * clear 503 and /readyz says so; afterwards the flow goes on (or, if its state was lost, the
 * user is told to start again). A password change acknowledged to the user was confirmed by a
 * replica (WAIT) before the answer, so killing its primary right after does not undo it.
 *
 * FAILOVER_ROUNDS=n (npm run test:failover-long) adds n rounds of kill / failover / rejoin,
 * with every way of killing a node.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import calculateSlot from 'cluster-key-slot';
import { parseConfig } from '../../src/config/load.ts';
import { createServices, type Services } from '../../src/services.ts';
import { seedWithMethods } from '../support/seed.ts';
import { freePort } from '../support/redis.ts';
import { startReplicatedCluster, type KillHow, type ReplicatedCluster } from '../support/redis-failover.ts';
import { apiCall, sharedRekeyEnv, signsIn, startRekeyProcess, type JsonAnswer, type RekeyProcess } from '../support/rekey-process.ts';
import { assertClearError, NEW_PASSWORD, OLD_PASSWORD, resetToNewPassword, setPassword, totpCode, NEXT_STEP_TOTP_ENV, type ApiFlow } from './crash-kit.ts';

const PREFIX = 'rekey-failover:';
const WAIT_TIMEOUT_MS = 800;
const ROUNDS = Number(process.env.FAILOVER_ROUNDS ?? 0);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The cluster slot of a key as rekey sends it (the prefix has no braces: the tag decides). */
const slotOfTag = (tag: string): number => calculateSlot(`${PREFIX}x:{${tag}}`);

describe('Redis Cluster failover (3 primaries + 3 replicas, three rekey processes)', function () {
  this.timeout(120_000);
  let cluster: ReplicatedCluster;
  let procs: RekeyProcess[] = [];
  let services: Services;
  let dir: string;
  let issuer: string;
  let accounts = 0;
  const bases = (): string[] => procs.map((p) => p.url);
  const ports = (): number[] => procs.map((p) => p.port);

  before(async () => {
    cluster = await startReplicatedCluster();
    dir = mkdtempSync(join(tmpdir(), 'rekey-failover-'));
    const first = await freePort();
    issuer = `http://127.0.0.1:${first}`;
    const env = sharedRekeyEnv(dir, issuer, {
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,authenticator_app',
      REDIS_CLUSTER_NODES: cluster.nodes.join(','),
      REDIS_KEY_PREFIX: PREFIX,
      REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS),
      // Warnings and errors land in each process's output, where the tests read them.
      LOG_LEVEL: 'warn',
      ...NEXT_STEP_TOTP_ENV,
    });
    services = await createServices(parseConfig({ ...env, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'seed') }));
    procs = await Promise.all([first, await freePort(), await freePort()].map((port, i) => startRekeyProcess({ ...env, DATA_DIR: join(dir, `p${i}`) }, { port })));
  });

  afterEach(async function () {
    // Each test starts from a whole cluster: nodes killed by a test (or left by its failure) come back.
    if (!cluster) return;
    for (const port of cluster.down()) await cluster.restart(port);
    await cluster.waitHealthy();
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await services?.close();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function seed(): Promise<{ id: string; login: string; totp: string }> {
    const login = `fo${++accounts}`;
    const { id, totp } = await seedWithMethods(services, login, OLD_PASSWORD);
    return { id, login, totp };
  }

  /** Polls every process's /readyz until all say `status`; returns how long that took. */
  async function readyzEverywhere(status: number, withinMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const answers = await Promise.all(bases().map((b) => fetch(`${b}/readyz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status, () => 0)));
      if (answers.every((s) => s === status)) return Date.now() - started;
      if (Date.now() - started > withinMs) throw new Error(`/readyz answered ${answers.join(', ')}, not all ${status}, for ${withinMs} ms`);
      await sleep(100);
    }
  }

  /** A step retried while the answer is a 503 or "busy" (what a user's reload does), within a bound. */
  async function retried(step: () => Promise<JsonAnswer>, withinMs = 15_000): Promise<JsonAnswer> {
    const started = Date.now();
    for (;;) {
      const answer = await step();
      const transient = answer.status === 503 || (answer.status === 409 && answer.body.error === 'reset_busy');
      if (!transient) return answer;
      assertClearError(answer, [409, 503], 'while the cluster fails over');
      if (Date.now() - started > withinMs) throw new Error(`still ${answer.status} ${answer.text} after ${withinMs} ms`);
      await sleep(200);
    }
  }

  async function waitCalls(port: number): Promise<number> {
    const c = cluster.connectTo(port);
    try {
      return Number(/cmdstat_wait:calls=(\d+)/.exec(await c.info('commandstats'))?.[1] ?? 0);
    } finally {
      c.disconnect();
    }
  }

  /** The new password works and the old one does not, signing in through the processes' pages. */
  async function assertPasswordInForce(login: string, password: string, old: string): Promise<void> {
    assert.equal(await signsIn(issuer, ports, login, password), true, `${login} signs in with the password acknowledged to them`);
    assert.equal(await signsIn(issuer, ports, login, old), false, `${login}'s previous password is refused`);
  }

  /** Kills the primary serving `slot`, waits for its replica's promotion; returns the old primary's port. */
  async function failOver(slot: number, how: KillHow = 'sigkill'): Promise<{ killed: number; ms: number }> {
    const killed = await cluster.primaryOf(slot);
    await cluster.kill(killed, how);
    const { ms } = await cluster.waitForFailover(slot, killed);
    return { killed, ms };
  }

  it('a reset flow whose primary dies mid-flow: clear 503s and /readyz 503 during the failover, then the flow completes', async () => {
    const { login, totp } = await seed();
    const [p0, p1, p2] = bases() as [string, string, string];
    const started = await apiCall(p0, 'POST', '/api/v1/resets', { body: { identifier: login } });
    assert.equal(started.status, 201, started.text);
    let flow: ApiFlow = { flow: String(started.body.flow), secret: String(started.body.secret) };
    const app = (started.body.methods as { ref: string; kind: string }[]).find((m) => m.kind === 'authenticator_app')!;
    const chosen = await apiCall(p1, 'POST', `/api/v1/resets/${flow.flow}/choose`, { secret: flow.secret, body: { ref: app.ref } });
    assert.equal(chosen.status, 200, chosen.text);

    // The primary holding the flow's keys dies between two steps.
    const slot = slotOfTag(`f:${flow.flow}`);
    const killed = await cluster.primaryOf(slot);
    await cluster.kill(killed);
    const during = await apiCall(p2, 'POST', `/api/v1/resets/${flow.flow}/prove`, { secret: flow.secret, body: { code: await totpCode(totp) } });
    if (during.status !== 200) assertClearError(during, [503], 'a step while the flow\'s primary is gone');
    // Once the cluster has noticed, every process says it is not ready.
    await readyzEverywhere(503, 5_000);
    const { primary, ms } = await cluster.waitForFailover(slot, killed);
    assert.notEqual(primary, killed);
    const back = await readyzEverywhere(200, 10_000);

    // The user reloads: the step goes through, on any process.
    const prove = (stepsAhead: number) => async () => apiCall(p0, 'POST', `/api/v1/resets/${flow.flow}/prove`, { secret: flow.secret, body: { code: await totpCode(totp, stepsAhead) } });
    let proved = during.status === 200 ? during : await retried(prove(0));
    // A code the failed attempt managed to spend: the user types the next one.
    if (proved.status === 400) proved = await retried(prove(1));
    if (proved.status === 410) {
      // The flow did not survive (not replicated in time): the user is told to start again, and can.
      assertClearError(proved, [410], 'a flow lost in the failover');
      flow = await resetToNewPassword(bases(), login, totp);
    } else {
      assert.equal(proved.status, 200, proved.text);
      assert.equal(proved.body.state, 'new_password');
    }
    const done = await retried(() => setPassword(p1, flow));
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.state, 'done');
    await assertPasswordInForce(login, NEW_PASSWORD, OLD_PASSWORD);
    console.log(`      (failover in ${ms} ms, every process ready ${back} ms later)`);
  });

  it('a password change acknowledged to the user (WAIT) survives the death of its primary right after', async () => {
    const { id, login, totp } = await seed();
    const flow = await resetToNewPassword(bases(), login, totp);
    const slot = slotOfTag(`a:${id}`);
    const primary = await cluster.primaryOf(slot);
    const waitsBefore = await waitCalls(primary);

    const done = await setPassword(bases()[2]!, flow);
    assert.equal(done.status, 200, done.text);
    assert.ok((await waitCalls(primary)) > waitsBefore, 'the commit waited for a replica on the primary that took it');
    // Killed the moment the user has the answer.
    const { killed } = await failOver(slot);
    assert.equal(killed, primary);
    await readyzEverywhere(200, 10_000);
    await assertPasswordInForce(login, NEW_PASSWORD, OLD_PASSWORD);

    // The same for a password changed by the user (not a reset), on a primary that became one in the failover.
    await cluster.restart(killed);
    await cluster.waitHealthy();
    const newer = 'amber-lighthouse-hums-softly';
    const newPrimary = await cluster.primaryOf(slot);
    const before = await waitCalls(newPrimary);
    assert.equal(await services.accounts.changePassword(id, newer, { signOutEverywhere: true }), undefined);
    assert.ok((await waitCalls(newPrimary)) > before, 'the change waited for a replica');
    await failOver(slot, 'shutdown');
    await readyzEverywhere(200, 10_000);
    await assertPasswordInForce(login, newer, NEW_PASSWORD);
  });

  it('no replica confirms in time (a stalled replica): the change stands, the user is told it is done, a warning is logged', async () => {
    const { id, login, totp } = await seed();
    const flow = await resetToNewPassword(bases(), login, totp);
    const slot = slotOfTag(`a:${id}`);
    const topology = await cluster.topology();
    const primaryPort = await cluster.primaryOf(slot);
    const primaryId = topology.find((n) => n.port === primaryPort)!.id;
    const replica = topology.find((n) => n.master === primaryId)!;
    cluster.pause(replica.port);
    let answer: JsonAnswer;
    const started = Date.now();
    try {
      answer = await setPassword(bases()[0]!, flow);
    } finally {
      cluster.resume(replica.port);
    }
    const took = Date.now() - started;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.state, 'done');
    assert.ok(took >= WAIT_TIMEOUT_MS - 50, `waited for the replica (${took} ms)`);
    assert.ok(took < WAIT_TIMEOUT_MS + 3_000, `then answered (${took} ms)`);
    assert.match(procs[0]!.output(), /"event":"replica_wait_timeout"/, 'the operator is warned');
    assert.match(procs[0]!.output(), new RegExp(`"accountId":"${id}"`));
    await assertPasswordInForce(login, NEW_PASSWORD, OLD_PASSWORD);
  });

  (ROUNDS > 0 ? describe : describe.skip)(`long: ${ROUNDS || 'n'} rounds of kill, failover and rejoin (FAILOVER_ROUNDS)`, () => {
    it('every round: an acknowledged change survives, a flow caught in the failover completes, the old node rejoins', async function () {
      this.timeout(ROUNDS * 60_000);
      const ways: KillHow[] = ['sigkill', 'segfault', 'shutdown'];
      const times: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const how = ways[round % ways.length]!;
        const at = (i: number): string => bases()[(round + i) % 3]!;
        const a = await seed();
        const flowA = await resetToNewPassword(bases(), a.login, a.totp);
        // B is between two steps when the primary dies.
        const b = await seed();
        const startedB = await apiCall(at(0), 'POST', '/api/v1/resets', { body: { identifier: b.login } });
        assert.equal(startedB.status, 201, startedB.text);
        const flowB: ApiFlow = { flow: String(startedB.body.flow), secret: String(startedB.body.secret) };
        const appB = (startedB.body.methods as { ref: string; kind: string }[]).find((m) => m.kind === 'authenticator_app')!;
        assert.equal((await apiCall(at(1), 'POST', `/api/v1/resets/${flowB.flow}/choose`, { secret: flowB.secret, body: { ref: appB.ref } })).status, 200);

        assert.equal((await setPassword(at(2), flowA)).status, 200);
        const slot = slotOfTag(`a:${a.id}`);
        const killed = await cluster.primaryOf(slot);
        await cluster.kill(killed, how);
        const proveB = async () => apiCall(at(0), 'POST', `/api/v1/resets/${flowB.flow}/prove`, { secret: flowB.secret, body: { code: await totpCode(b.totp) } });
        const during = await proveB();
        if (during.status !== 200) assertClearError(during, [503, 409], `round ${round}: a step during the failover`);
        const { ms } = await cluster.waitForFailover(slot, killed);
        times.push(ms);
        await readyzEverywhere(200, 10_000);
        await assertPasswordInForce(a.login, NEW_PASSWORD, OLD_PASSWORD);

        let proved = during.status === 200 ? during : await retried(proveB);
        if (proved.status === 400) proved = await retried(async () => apiCall(at(1), 'POST', `/api/v1/resets/${flowB.flow}/prove`, { secret: flowB.secret, body: { code: await totpCode(b.totp, 1) } }));
        assert.equal(proved.status, 200, `round ${round}: ${proved.text}`);
        // The old primary rejoins as a replica; B finishes meanwhile.
        await cluster.restart(killed);
        assert.equal((await retried(() => setPassword(at(1), flowB))).status, 200);
        await cluster.waitHealthy();
        await assertPasswordInForce(b.login, NEW_PASSWORD, OLD_PASSWORD);
      }
      console.log(`      (failovers took ${times.join(', ')} ms)`);
    });
  });
});
