import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { CLAIM_GRACE_MS } from '../../adapters/store/redis/accounts.ts';
import { openRedisStore } from '../../adapters/store/redis/index.ts';
import { ephemeralKey, keys, TTL_GRACE_MS } from '../../adapters/store/redis/keys.ts';
import { StoreUnavailable } from '../../src/errors.ts';
import type { AccountRecord, Clock, Store } from '../../src/store/types.ts';
import {
  adminClient,
  closeAdminClient,
  deletePrefixed,
  freePort,
  redisCluster,
  redisServer,
  scanKeys,
  startRedisCluster,
  startRedisServer,
  stopRedisHarness,
  testKeyPrefix,
} from '../support/redis.ts';
import { storeContract } from './store.contract.ts';

after(async () => {
  await stopRedisHarness();
});

storeContract('redis', async (clock) => {
  const { url } = await redisServer();
  const keyPrefix = testKeyPrefix();
  const store = await openRedisStore({ url, keyPrefix, clock });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await deletePrefixed({ url }, keyPrefix);
    },
  };
});

storeContract('redis-cluster', async (clock) => {
  const { nodes } = await redisCluster();
  const keyPrefix = testKeyPrefix();
  const store = await openRedisStore({ clusterNodes: nodes, keyPrefix, clock });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await deletePrefixed({ nodes }, keyPrefix);
    },
  };
});

const START = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function accountRecord(id: string, overrides: Partial<AccountRecord> = {}): AccountRecord {
  return {
    id,
    login: `login-${id}`,
    emails: [{ address: `${id}@example.org`, verified: true }],
    name: id,
    groups: [],
    admin: false,
    status: 'active',
    passwordHistory: [],
    mustChangePassword: false,
    notBefore: 0,
    methods: [],
    createdAt: START,
    updatedAt: START,
    version: 0,
    ...overrides,
  };
}

/** Touches every sub-store, so every kind of key gets written. */
async function exercise(store: Store, tag: string): Promise<void> {
  const id = `acc-${tag}`;
  await store.accounts.create(accountRecord(id));
  await store.accounts.replace({ ...accountRecord(id), emails: [{ address: `new-${tag}@example.org`, verified: false }] });
  await store.accounts.list({ offset: 0, limit: 5 });
  await store.ephemeral.put(`reset:{a:${id}}:flow`, { step: 1 }, START + MINUTE);
  await store.ephemeral.put(`plain-${tag}`, 1, START + MINUTE);
  await store.ephemeral.consume(`plain-${tag}`);
  await store.counters.hit(`signin:{a:${id}}`, MINUTE);
  await store.oidc.upsert('Session', `s-${tag}`, { accountId: id }, START + HOUR, { accountId: id, uid: `u-${tag}` });
  await store.oidc.upsert('AccessToken', `at-${tag}`, {}, START + HOUR, { accountId: id, grantId: `g-${tag}` });
  await store.oidc.upsert('DeviceCode', `d-${tag}`, {}, START + HOUR, { userCode: `UC-${tag}` });
  await store.oidc.consume('AccessToken', `at-${tag}`);
  await store.oidc.countByAccount('Session', id);
  await store.logs.append('audit', { at: START, type: 'test' }, START + HOUR);
  await store.logs.list('audit', { limit: 5 });
}

async function elapsed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const t0 = performance.now();
  const [result] = await Promise.allSettled([fn()]);
  return { ms: performance.now() - t0, result: result! };
}

function assertUnavailable(result: PromiseSettledResult<unknown>, what: string): Error {
  assert.equal(result.status, 'rejected', `${what} should reject`);
  const reason = (result as PromiseRejectedResult).reason as unknown;
  assert.ok(reason instanceof StoreUnavailable, `${what}: expected StoreUnavailable, got ${String(reason)}`);
  return reason;
}

/** A flow key without the account's tag would need a cross-slot script: refused up front. */
async function refusesForeignSlot(store: Store): Promise<void> {
  const alice = accountRecord(`acc-${randomUUID().slice(0, 8)}`);
  await store.accounts.create(alice);
  for (const flow of [`reset-flow:${alice.id}:1`, `reset-flow:{a:other}:1`]) {
    await store.ephemeral.put(flow, { step: 1 }, START + MINUTE);
    await assert.rejects(
      store.accounts.commitWithConsume({ ...alice, passwordHash: '$argon2id$new' }, flow),
      (err: unknown) => {
        assert.ok(err instanceof Error && !(err instanceof StoreUnavailable), String(err));
        assert.match(err.message, /not on the slot of account/);
        return true;
      },
    );
    assert.deepEqual(await store.ephemeral.get(flow), { step: 1 });
  }
  assert.deepEqual(await store.accounts.get(alice.id), alice);
}

describe('redis store: backend specifics', () => {
  const clock: Clock = () => START;

  describe('on Redis Cluster', () => {
    let nodes: string[];
    let keyPrefix: string;
    let store: Store;

    beforeEach(async () => {
      ({ nodes } = await redisCluster());
      keyPrefix = testKeyPrefix();
      store = await openRedisStore({ clusterNodes: nodes, keyPrefix, clock });
    });

    afterEach(async () => {
      await store.close();
      await deletePrefixed({ nodes }, keyPrefix);
    });

    it('reports its backend', () => {
      assert.equal(store.backend, 'redis-cluster');
    });

    it('keeps every key of one account, and an account-tagged flow, on one slot', async () => {
      const tag = randomUUID().slice(0, 8);
      await exercise(store, tag);
      const id = `acc-${tag}`;
      const admin = (await adminClient({ nodes })) as Cluster;
      const slot = async (key: string): Promise<number> =>
        (await admin.call('CLUSTER', 'KEYSLOT', `${keyPrefix}${key}`)) as number;

      const accountKeys = [
        keys.account(id),
        keys.accountOidc(id),
        ephemeralKey(`reset:{a:${id}}:flow`),
        keys.counter(`signin:{a:${id}}`),
      ];
      const present = new Set(await scanKeys({ nodes }, `${keyPrefix}*`));
      for (const k of accountKeys) assert.ok(present.has(`${keyPrefix}${k}`), `${k} was written`);
      const slots = await Promise.all(accountKeys.map(slot));
      assert.equal(new Set(slots).size, 1, `one slot for ${accountKeys.join(', ')}: ${slots.join(', ')}`);

      const indexSlots = await Promise.all([keys.loginIndex, keys.emailIndex, keys.byLogin, keys.claims].map(slot));
      assert.equal(new Set(indexSlots).size, 1);
      // The stream's entries and its sequence counter go together in one script.
      assert.equal(await slot(keys.logEntries('audit')), await slot(keys.logSeq('audit')));
    });

    it('revokes an account whose records are spread over the whole cluster', async () => {
      const admin = (await adminClient({ nodes })) as Cluster;
      for (let i = 0; i < 30; i++) {
        await store.oidc.upsert('Session', `spread-${i}`, { i }, START + HOUR, { accountId: 'acc-spread', grantId: `g-${i % 3}` });
      }
      const slots = new Set(
        await Promise.all(
          Array.from({ length: 30 }, (_, i) => admin.call('CLUSTER', 'KEYSLOT', `${keyPrefix}${keys.oidc('Session', `spread-${i}`)}`)),
        ),
      );
      assert.ok(slots.size > 3, 'the records live on many slots');
      assert.equal(await store.oidc.countByAccount('Session', 'acc-spread'), 30);
      await store.oidc.revokeByGrantId('g-0');
      assert.equal(await store.oidc.countByAccount('Session', 'acc-spread'), 20);
      assert.equal(await store.oidc.revokeByAccount('acc-spread'), 20);
      assert.equal(await store.oidc.find('Session', 'spread-1'), undefined);
    });

    it('lets exactly one of many concurrent creates claim a login, across processes', async () => {
      // Two store instances stand for two rekey processes.
      const other = await openRedisStore({ clusterNodes: nodes, keyPrefix, clock });
      try {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? other : store).accounts.create(
              accountRecord(`acc-race-${i}`, { login: 'race', emails: [{ address: `race-${i}@example.org`, verified: true }] }),
            ),
          ),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(winners.length, 1);
        for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /login is taken/);
        assert.equal((await store.accounts.findByLogin('race'))?.id, `acc-race-${winners[0]}`);
        assert.equal(await store.accounts.count(), 1);
        // The losers' emails were given back.
        const loser = winners[0] === 0 ? 1 : 0;
        await store.accounts.create(accountRecord('acc-late', { emails: [{ address: `race-${loser}@example.org`, verified: true }] }));
      } finally {
        await other.close();
      }
    });

    it('lets exactly one of many concurrent replaces of one version win', async () => {
      const alice = accountRecord('acc-alice');
      await store.accounts.create(alice);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.accounts.replace({ ...alice, emails: [{ address: `alice-${i}@example.org`, verified: false }] }),
        ),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      const stored = await store.accounts.get(alice.id);
      assert.deepEqual(stored?.emails, [{ address: `alice-${winner}@example.org`, verified: false }]);
      assert.equal(stored?.version, 1);
      assert.equal((await store.accounts.findByEmail(`alice-${winner}@example.org`))?.id, alice.id);
      assert.equal(await store.accounts.findByEmail(alice.emails[0]!.address), undefined);
      // Every loser gave its claim back: those addresses are free.
      for (let i = 0; i < 20; i++) {
        if (i === winner) continue;
        await store.accounts.create(accountRecord(`acc-${i}`, { emails: [{ address: `alice-${i}@example.org`, verified: true }] }));
      }
    });

    it("refuses a reset commit whose flow key is not on the account's slot, before running it", async () => {
      await refusesForeignSlot(store);
    });

    it('writes nothing outside its key prefix', async function () {
      const shared = await redisCluster();
      if (!shared.owned) this.skip();
      const admin = (await adminClient({ nodes })) as Cluster;
      const size = async (): Promise<number> =>
        (await Promise.all(admin.nodes('master').map((n) => n.dbsize()))).reduce((a, b) => a + b, 0);
      const before = await size();
      await exercise(store, randomUUID().slice(0, 8));
      const ours = await scanKeys({ nodes }, `${keyPrefix}*`);
      assert.ok(ours.length > 10);
      assert.equal((await size()) - before, ours.length);
    });

    it('rejects opening against unreachable cluster nodes quickly, naming REDIS_CLUSTER_NODES', async () => {
      const port = await freePort();
      const { ms, result } = await elapsed(() =>
        openRedisStore({ clusterNodes: [`127.0.0.1:${port}`], keyPrefix: testKeyPrefix(), clock }),
      );
      const err = assertUnavailable(result, 'openRedisStore');
      assert.match(err.message, /REDIS_CLUSTER_NODES/);
      assert.ok(ms < 5_000, `took ${Math.round(ms)} ms`);
    });
  });

  describe('on standalone Redis', () => {
    let url: string;
    let keyPrefix: string;
    let store: Store;
    let admin: Redis;

    beforeEach(async () => {
      ({ url } = await redisServer());
      keyPrefix = testKeyPrefix();
      store = await openRedisStore({ url, keyPrefix, clock });
      admin = (await adminClient({ url })) as Redis;
    });

    afterEach(async () => {
      await store.close();
      await deletePrefixed({ url }, keyPrefix);
    });

    it('reports its backend and closes twice without error', async () => {
      assert.equal(store.backend, 'redis');
      await store.close();
      await store.close();
      await assert.rejects(store.counters.get('x'), StoreUnavailable);
    });

    it('refuses a reset commit whose flow key would be on another cluster slot, here too', async () => {
      await refusesForeignSlot(store);
    });

    it('sets garbage-collection TTLs from the stored expiry plus a grace, not the clock of Redis', async () => {
      await store.ephemeral.put('flow:{x}', 1, START + MINUTE);
      await store.counters.hit('c:{x}', 10 * MINUTE);
      await store.oidc.upsert('Session', 's1', {}, START + HOUR, { accountId: 'a1' });
      const pttl = (key: string): Promise<number> => admin.pttl(`${keyPrefix}${key}`);
      const near = (actual: number, expected: number): void =>
        assert.ok(Math.abs(actual - expected) < 5_000, `${actual} ≈ ${expected}`);
      near(await pttl(keys.ephemeral('flow:{x}')), MINUTE + TTL_GRACE_MS);
      near(await pttl(keys.counter('c:{x}')), 10 * MINUTE + TTL_GRACE_MS);
      near(await pttl(keys.oidc('Session', 's1')), HOUR + TTL_GRACE_MS);
      near(await pttl(keys.accountOidc('a1')), HOUR + TTL_GRACE_MS);
      // Durable data has no TTL.
      await store.accounts.create(accountRecord('durable'));
      assert.equal(await pttl(keys.account('durable')), -1);
    });

    it('takes over an index entry left by a crashed create, but not one of a create in flight', async () => {
      // A crash after claiming: the index points to an account whose record was never written.
      await admin.hset(`${keyPrefix}${keys.loginIndex}`, 'alice', 'acc-crashed');
      await admin.zadd(`${keyPrefix}${keys.byLogin}`, 0, 'alice');
      await admin.hset(`${keyPrefix}${keys.claims}`, 'acc-crashed', String(START - CLAIM_GRACE_MS - 1));
      assert.equal(await store.accounts.findByLogin('alice'), undefined);

      await store.accounts.create(accountRecord('acc-alice', { login: 'alice' }));
      assert.equal((await store.accounts.findByLogin('alice'))?.id, 'acc-alice');
      assert.equal(await store.accounts.count(), 1);

      // Another process claimed this email a moment ago and is about to write its record.
      await admin.hset(`${keyPrefix}${keys.emailIndex}`, 'bob@example.org', 'acc-inflight');
      await admin.hset(`${keyPrefix}${keys.claims}`, 'acc-inflight', String(START - 1_000));
      await assert.rejects(
        store.accounts.create(accountRecord('acc-bob', { login: 'bob', emails: [{ address: 'bob@example.org', verified: true }] })),
        /email is taken/,
      );
      assert.equal(await store.accounts.findByLogin('bob'), undefined);
      assert.equal(await admin.hget(`${keyPrefix}${keys.loginIndex}`, 'bob'), null, 'the failed claim wrote nothing');
    });

    it('lets an email left behind by an interrupted replace be claimed again', async () => {
      const alice = accountRecord('acc-alice');
      await store.accounts.create(alice);
      // The record moved on, but releasing the old address never happened.
      await admin.hset(`${keyPrefix}${keys.emailIndex}`, 'old@example.org', alice.id);
      await admin.hset(`${keyPrefix}${keys.claims}`, alice.id, String(START - CLAIM_GRACE_MS - 1));
      assert.equal(await store.accounts.findByEmail('old@example.org'), undefined);

      await store.accounts.create(accountRecord('acc-bob', { emails: [{ address: 'old@example.org', verified: true }] }));
      assert.equal((await store.accounts.findByEmail('old@example.org'))?.id, 'acc-bob');
    });
  });

  describe('reset commit with a replica', () => {
    /** Polls until `ok` holds for the INFO replication text of `client`. */
    async function until(client: Redis, ok: (info: string) => boolean): Promise<void> {
      const deadline = Date.now() + 10_000;
      while (!ok(await client.info('replication'))) {
        if (Date.now() > deadline) throw new Error('replication did not get there within 10 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    it('waits for a replica to acknowledge the commit, and returns ok when none does in time', async function () {
      this.timeout(30_000);
      const primary = await startRedisServer();
      const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
      const keyPrefix = testKeyPrefix();
      const store = await openRedisStore({ url: primary.url, keyPrefix, clock, replicaWaitMs: 600 });
      const onPrimary = new Redis(primary.url);
      const onReplica = new Redis(replica.url);
      let paused = false;
      try {
        await until(onPrimary, (info) => /^connected_slaves:1\b/m.test(info));
        await until(onReplica, (info) => /^master_link_status:up\b/m.test(info));

        const alice = accountRecord('acc-alice', { passwordHash: '$argon2id$old' });
        await store.accounts.create(alice);
        const flow = `reset-flow:{a:${alice.id}}:1`;
        await store.ephemeral.put(flow, { step: 1 }, START + MINUTE);
        const first = await elapsed(() => store.accounts.commitWithConsume({ ...alice, passwordHash: '$argon2id$new' }, flow));
        assert.deepEqual(first.result, { status: 'fulfilled', value: 'ok' });
        assert.ok(first.ms < 500, `an answering replica acknowledges at once (${Math.round(first.ms)} ms)`);
        // Acknowledged means the replica has it: no waiting for replication here.
        assert.equal(await onReplica.hget(`${keyPrefix}${keys.account(alice.id)}`, 'version'), '1');
        assert.equal(await onReplica.exists(`${keyPrefix}${ephemeralKey(flow)}`), 0);

        // A replica that stopped answering (the primary still counts it): WAIT runs out.
        process.kill(replica.pid, 'SIGSTOP');
        paused = true;
        const again = `reset-flow:{a:${alice.id}}:2`;
        await store.ephemeral.put(again, { step: 1 }, START + MINUTE);
        const current = (await store.accounts.get(alice.id))!;
        const second = await elapsed(() => store.accounts.commitWithConsume({ ...current, passwordHash: '$argon2id$newer' }, again));
        assert.deepEqual(second.result, { status: 'fulfilled', value: 'ok' });
        assert.ok(second.ms >= 550, `waited for the replica (${Math.round(second.ms)} ms)`);
        assert.equal((await store.accounts.get(alice.id))?.passwordHash, '$argon2id$newer');
      } finally {
        if (paused) process.kill(replica.pid, 'SIGCONT');
        onPrimary.disconnect();
        onReplica.disconnect();
        await store.close();
        await replica.stop();
        await primary.stop();
      }
    });

    it('does not wait on a primary without replicas', async function () {
      const { url } = await redisServer();
      const keyPrefix = testKeyPrefix();
      // A WAIT here would take the whole 5 s.
      const store = await openRedisStore({ url, keyPrefix, clock, replicaWaitMs: 5_000 });
      try {
        const info = await ((await adminClient({ url })) as Redis).info('replication');
        // A shared REDIS_URL may have replicas of its own.
        if (!/^connected_slaves:0\b/m.test(info)) this.skip();
        const alice = accountRecord('acc-alice');
        await store.accounts.create(alice);
        const flow = `reset-flow:{a:${alice.id}}:1`;
        await store.ephemeral.put(flow, { step: 1 }, START + MINUTE);
        const { ms, result } = await elapsed(() => store.accounts.commitWithConsume({ ...alice, name: 'x' }, flow));
        assert.deepEqual(result, { status: 'fulfilled', value: 'ok' });
        assert.ok(ms < 1_000, `took ${Math.round(ms)} ms`);
      } finally {
        await store.close();
        await deletePrefixed({ url }, keyPrefix);
      }
    });
  });

  describe('outages', () => {
    it('writes nothing outside its key prefix', async () => {
      const server = await startRedisServer();
      try {
        const keyPrefix = testKeyPrefix();
        const store = await openRedisStore({ url: server.url, keyPrefix, clock });
        await exercise(store, 'p');
        await store.close();
        const all = await scanKeys({ url: server.url });
        assert.ok(all.length > 10, `keys were written: ${all.length}`);
        assert.deepEqual(
          all.filter((k) => !k.startsWith(keyPrefix)),
          [],
        );
      } finally {
        await closeAdminClient({ url: server.url });
        await server.stop();
      }
    });

    it('rejects fast with StoreUnavailable while Redis is down and recovers without reopening', async function () {
      this.timeout(40_000);
      let server = await startRedisServer();
      const keyPrefix = testKeyPrefix();
      const store = await openRedisStore({ url: server.url, keyPrefix, clock });
      try {
        await store.accounts.create(accountRecord('acc-1'));
        await server.stop();

        for (const [what, call] of [
          ['ping', () => store.ping()],
          ['accounts.get', () => store.accounts.get('acc-1')],
          ['counters.hit', () => store.counters.hit('c', MINUTE)],
          ['oidc.revokeByAccount', () => store.oidc.revokeByAccount('acc-1')],
        ] as const) {
          const { ms, result } = await elapsed<unknown>(call);
          assertUnavailable(result, what);
          assert.ok(ms < 3_000, `${what} took ${Math.round(ms)} ms`);
        }

        server = await startRedisServer({ port: server.port });
        const deadline = Date.now() + 10_000;
        for (;;) {
          try {
            await store.ping();
            break;
          } catch (err) {
            assert.ok(err instanceof StoreUnavailable);
            if (Date.now() > deadline) throw new Error('the store did not recover within 10 s');
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        // The new server is empty (no persistence): the same instance reads and writes again.
        assert.equal(await store.accounts.get('acc-1'), undefined);
        await store.accounts.create(accountRecord('acc-2'));
        assert.equal((await store.accounts.get('acc-2'))?.id, 'acc-2');
      } finally {
        await store.close();
        await server.stop();
      }
    });

    it('times out on a Redis that stops answering, and carries on once it answers again', async function () {
      this.timeout(30_000);
      const server = await startRedisServer();
      const store = await openRedisStore({ url: server.url, keyPrefix: testKeyPrefix(), clock, commandTimeoutMs: 1_000 });
      try {
        await store.counters.hit('c', MINUTE);
        process.kill(server.pid, 'SIGSTOP');
        try {
          for (const [what, call] of [
            ['ping', () => store.ping()],
            ['counters.get', () => store.counters.get('c')],
            ['accounts.replace', () => store.accounts.replace(accountRecord('acc-1'))],
          ] as const) {
            const { ms, result } = await elapsed<unknown>(call);
            assertUnavailable(result, what);
            assert.ok(ms < 3_000, `${what} took ${Math.round(ms)} ms`);
          }
        } finally {
          process.kill(server.pid, 'SIGCONT');
        }
        assert.equal((await store.counters.hit('c', MINUTE)).count, 2);
      } finally {
        await store.close();
        await server.stop();
      }
    });

    it('rejects fast while the whole cluster is down and recovers without reopening', async function () {
      this.timeout(60_000);
      const cluster = await startRedisCluster();
      const store = await openRedisStore({ clusterNodes: cluster.nodes, keyPrefix: testKeyPrefix(), clock });
      try {
        for (let i = 0; i < 10; i++) await store.ephemeral.put(`k:{${i}}`, i, START + HOUR);
        // One node down: the keys it serves fail fast, the others still work.
        await cluster.stopNode(0);
        const some = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.ephemeral.get(`k:{${i}}`)));
        for (const r of some) if (r.status === 'rejected') assert.ok(r.reason instanceof StoreUnavailable, String(r.reason));
        assert.ok(some.some((r) => r.status === 'rejected'));

        await cluster.stopNode(1);
        await cluster.stopNode(2);
        for (const [what, call] of [
          ['ping', () => store.ping()],
          ['ephemeral.get', () => store.ephemeral.get('k:{1}')],
          ['oidc.revokeByAccount', () => store.oidc.revokeByAccount('acc-1')],
        ] as const) {
          const { ms, result } = await elapsed<unknown>(call);
          assertUnavailable(result, what);
          assert.ok(ms < 3_000, `${what} took ${Math.round(ms)} ms`);
        }

        for (let i = 0; i < 3; i++) await cluster.startNode(i);
        const deadline = Date.now() + 20_000;
        for (;;) {
          const round = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.ephemeral.get(`k:{${i}}`)));
          if (round.every((r) => r.status === 'fulfilled')) break;
          for (const r of round) if (r.status === 'rejected') assert.ok(r.reason instanceof StoreUnavailable, String(r.reason));
          if (Date.now() > deadline) throw new Error('the store did not recover within 20 s');
          await new Promise((r) => setTimeout(r, 200));
        }
        await store.counters.hit('after:{x}', MINUTE);
      } finally {
        await store.close();
        await cluster.stop();
      }
    });

    it('rejects opening quickly when nothing listens, naming REDIS_URL but not the password', async () => {
      const port = await freePort();
      const { ms, result } = await elapsed(() =>
        openRedisStore({ url: `redis://:s3cr3t-pw@127.0.0.1:${port}`, keyPrefix: testKeyPrefix(), clock }),
      );
      const err = assertUnavailable(result, 'openRedisStore');
      assert.match(err.message, /REDIS_URL/);
      assert.match(err.message, new RegExp(String(port)));
      assert.doesNotMatch(err.message, /s3cr3t/);
      assert.ok(ms < 5_000, `took ${Math.round(ms)} ms`);
    });
  });
});
