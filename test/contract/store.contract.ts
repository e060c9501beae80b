/**
 * The one behaviour every store backend must show. Each backend's test file calls
 * `storeContract` with a way to open a store on a given clock; the suite never fakes the
 * global Date, it ages data by moving its own `now`.
 *
 * `open` must hand back an empty store (a fresh file, a flushed test database or a unique key
 * prefix): `count` and `list` are checked against exactly what the test wrote. Ids, logins,
 * emails and keys also carry a random per-test prefix so a backend shared between runs does
 * not make tests collide.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Conflict, StoreUnavailable } from '../../src/errors.ts';
import type { AccountRecord, Clock, LogEntry, Store } from '../../src/store/types.ts';

export type OpenStore = (clock: Clock) => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const START = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export function storeContract(backendName: string, open: OpenStore): void {
  describe(`store contract: ${backendName}`, () => {
    let now = START;
    const clock: Clock = () => now;
    let store: Store;
    let cleanup: () => Promise<void>;
    /** Unique per test, so ids and keys never meet another test's. */
    let p: string;

    beforeEach(async () => {
      now = START;
      p = randomUUID().slice(0, 8);
      ({ store, cleanup } = await open(clock));
    });

    afterEach(async () => {
      await cleanup();
    });

    function account(name: string, overrides: Partial<AccountRecord> = {}): AccountRecord {
      return {
        id: `acc-${p}-${name}`,
        login: `${p}-${name}`,
        emails: [{ address: `${name}.${p}@example.org`, verified: true }],
        name: `User ${name}`,
        groups: ['staff'],
        admin: false,
        status: 'active',
        passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
        passwordHistory: [],
        mustChangePassword: false,
        notBefore: 0,
        methods: [],
        createdAt: now,
        updatedAt: now,
        version: 0,
        ...overrides,
      };
    }

    const email = (local: string): string => `${local}.${p}@example.org`;

    /** Asserts the promise rejects with `Conflict` whose message names `field`. */
    async function rejectsConflict(promise: Promise<unknown>, field: 'login' | 'email'): Promise<void> {
      await assert.rejects(promise, (err: unknown) => {
        assert.ok(err instanceof Conflict, `expected Conflict, got ${String(err)}`);
        assert.match(err.message, new RegExp(`${field} is taken`));
        return true;
      });
    }

    describe('accounts', () => {
      it('creates an account and finds it by id, login and every email', async () => {
        const alice = account('alice', {
          emails: [
            { address: email('alice'), verified: true },
            { address: email('alice.work'), verified: false },
          ],
          groups: ['staff', 'admins'],
          admin: true,
          passwordHistory: ['$argon2id$old'],
          passwordExpiresAt: START + HOUR,
          methods: [{ kind: 'totp', secret: 'enc:abc' }],
        });
        await store.accounts.create(alice);

        assert.deepEqual(await store.accounts.get(alice.id), alice);
        assert.deepEqual(await store.accounts.findByLogin(alice.login), alice);
        assert.deepEqual(await store.accounts.findByEmail(email('alice')), alice);
        assert.deepEqual(await store.accounts.findByEmail(email('alice.work')), alice);
      });

      it('finds nothing for unknown ids, logins and emails', async () => {
        await store.accounts.create(account('alice'));
        assert.equal(await store.accounts.get(`acc-${p}-nobody`), undefined);
        assert.equal(await store.accounts.findByLogin(`${p}-nobody`), undefined);
        assert.equal(await store.accounts.findByEmail(email('nobody')), undefined);
        assert.equal(await store.accounts.notBefore(`acc-${p}-nobody`), undefined);
      });

      it('refuses a taken login with Conflict and writes nothing of the new account', async () => {
        const alice = account('alice');
        await store.accounts.create(alice);
        const clash = account('other', { login: alice.login, emails: [{ address: email('other'), verified: false }] });

        await rejectsConflict(store.accounts.create(clash), 'login');

        assert.equal(await store.accounts.get(clash.id), undefined);
        assert.equal(await store.accounts.findByEmail(email('other')), undefined);
        assert.deepEqual(await store.accounts.findByLogin(alice.login), alice);
        assert.equal(await store.accounts.count(), 1);
      });

      it('refuses a taken email with Conflict and writes nothing of the new account', async () => {
        const alice = account('alice');
        await store.accounts.create(alice);
        const clash = account('bob', {
          emails: [
            { address: email('bob'), verified: true },
            { address: email('alice'), verified: true },
          ],
        });

        await rejectsConflict(store.accounts.create(clash), 'email');

        assert.equal(await store.accounts.get(clash.id), undefined);
        assert.equal(await store.accounts.findByLogin(clash.login), undefined);
        assert.equal(await store.accounts.findByEmail(email('bob')), undefined);
        assert.deepEqual(await store.accounts.findByEmail(email('alice')), alice);
        assert.equal(await store.accounts.count(), 1);
      });

      it('replaces with the current version and bumps the version by one', async () => {
        const alice = account('alice');
        await store.accounts.create(alice);

        const ok = await store.accounts.replace({ ...alice, name: 'Alice A.', updatedAt: START + 1 });

        assert.equal(ok, true);
        const stored = await store.accounts.get(alice.id);
        assert.deepEqual(stored, { ...alice, name: 'Alice A.', updatedAt: START + 1, version: 1 });
        assert.equal((await store.accounts.findByLogin(alice.login))?.version, 1);
      });

      it('refuses a stale version with false and changes nothing', async () => {
        const alice = account('alice');
        await store.accounts.create(alice);
        assert.equal(await store.accounts.replace({ ...alice, name: 'first writer' }), true);

        const ok = await store.accounts.replace({ ...alice, name: 'second writer', admin: true });

        assert.equal(ok, false);
        assert.deepEqual(await store.accounts.get(alice.id), { ...alice, name: 'first writer', version: 1 });
      });

      it('returns false when replacing an account that does not exist', async () => {
        assert.equal(await store.accounts.replace(account('ghost')), false);
        assert.equal(await store.accounts.get(account('ghost').id), undefined);
        assert.equal(await store.accounts.findByEmail(email('ghost')), undefined);
      });

      it('moves the email index with the emails on replace', async () => {
        const alice = account('alice', {
          emails: [
            { address: email('alice'), verified: true },
            { address: email('alice.old'), verified: true },
          ],
        });
        await store.accounts.create(alice);

        const next = {
          ...alice,
          emails: [
            { address: email('alice'), verified: true },
            { address: email('alice.new'), verified: false },
          ],
        };
        assert.equal(await store.accounts.replace(next), true);

        assert.equal(await store.accounts.findByEmail(email('alice.old')), undefined);
        assert.equal((await store.accounts.findByEmail(email('alice.new')))?.id, alice.id);
        assert.equal((await store.accounts.findByEmail(email('alice')))?.id, alice.id);

        // The released address is free for someone else.
        const bob = account('bob', { emails: [{ address: email('alice.old'), verified: false }] });
        await store.accounts.create(bob);
        assert.equal((await store.accounts.findByEmail(email('alice.old')))?.id, bob.id);
      });

      it('moves the login index with the login on replace', async () => {
        const alice = account('alice');
        await store.accounts.create(alice);

        assert.equal(await store.accounts.replace({ ...alice, login: `${p}-alice2` }), true);

        assert.equal(await store.accounts.findByLogin(alice.login), undefined);
        assert.equal((await store.accounts.findByLogin(`${p}-alice2`))?.id, alice.id);
        await store.accounts.create(account('newcomer', { login: alice.login }));
        assert.equal((await store.accounts.findByLogin(alice.login))?.id, `acc-${p}-newcomer`);
      });

      it("refuses on replace another account's email with Conflict and changes nothing", async () => {
        const alice = account('alice');
        const bob = account('bob');
        await store.accounts.create(alice);
        await store.accounts.create(bob);

        const grab = {
          ...alice,
          name: 'changed',
          emails: [
            { address: email('alice.new'), verified: false },
            { address: email('bob'), verified: true },
          ],
        };
        await rejectsConflict(store.accounts.replace(grab), 'email');

        assert.deepEqual(await store.accounts.get(alice.id), alice);
        assert.deepEqual(await store.accounts.findByEmail(email('alice')), alice);
        assert.equal(await store.accounts.findByEmail(email('alice.new')), undefined);
        assert.deepEqual(await store.accounts.findByEmail(email('bob')), bob);
        // The failed attempt did not consume the version.
        assert.equal(await store.accounts.replace({ ...alice, name: 'retried' }), true);
      });

      it("refuses on replace another account's login with Conflict and changes nothing", async () => {
        const alice = account('alice');
        const bob = account('bob');
        await store.accounts.create(alice);
        await store.accounts.create(bob);

        await rejectsConflict(store.accounts.replace({ ...alice, login: bob.login, name: 'changed' }), 'login');

        assert.deepEqual(await store.accounts.get(alice.id), alice);
        assert.deepEqual(await store.accounts.findByLogin(alice.login), alice);
        assert.deepEqual(await store.accounts.findByLogin(bob.login), bob);
      });

      it('reads notBefore alone and sees it change with replace', async () => {
        const alice = account('alice', { notBefore: START - HOUR });
        await store.accounts.create(alice);
        assert.equal(await store.accounts.notBefore(alice.id), START - HOUR);

        assert.equal(await store.accounts.replace({ ...alice, notBefore: START + 5 }), true);
        assert.equal(await store.accounts.notBefore(alice.id), START + 5);
      });

      it('lists accounts ordered by login, page by page, and counts them', async () => {
        assert.equal(await store.accounts.count(), 0);
        assert.deepEqual(await store.accounts.list({ offset: 0, limit: 10 }), []);
        for (const name of ['carol', 'alice', 'erin', 'bob', 'dave']) await store.accounts.create(account(name));

        assert.equal(await store.accounts.count(), 5);
        const logins = async (offset: number, limit: number): Promise<string[]> =>
          (await store.accounts.list({ offset, limit })).map((a) => a.login);
        assert.deepEqual(await logins(0, 10), ['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => `${p}-${n}`));
        assert.deepEqual(await logins(0, 2), [`${p}-alice`, `${p}-bob`]);
        assert.deepEqual(await logins(2, 2), [`${p}-carol`, `${p}-dave`]);
        assert.deepEqual(await logins(4, 2), [`${p}-erin`]);
        assert.deepEqual(await logins(5, 2), []);
        const [first] = await store.accounts.list({ offset: 0, limit: 1 });
        assert.deepEqual(first, account('alice'));
      });
    });

    describe('reset commit (commitWithConsume)', () => {
      /** A reset flow key on the account's slot, as the domain builds it. */
      const flowKey = (id: string): string => `reset-flow:{a:${id}}:${randomUUID().slice(0, 8)}`;

      /** What a password reset writes on top of the record it read. */
      function reset(stored: AccountRecord, hash = '$argon2id$new'): AccountRecord {
        return {
          ...stored,
          passwordHash: hash,
          passwordHistory: [stored.passwordHash!, ...stored.passwordHistory],
          mustChangePassword: false,
          notBefore: now,
          updatedAt: now,
        };
      }

      /** An account and a live flow for it; `now` has moved on so notBefore visibly changes. */
      async function prepared(name: string): Promise<{ alice: AccountRecord; key: string }> {
        const alice = account(name);
        await store.accounts.create(alice);
        const key = flowKey(alice.id);
        await store.ephemeral.put(key, { step: 'new-password', accountId: alice.id }, now + 10 * MINUTE);
        now += MINUTE;
        return { alice, key };
      }

      it('writes the account, bumps the version and consumes the flow', async () => {
        const { alice, key } = await prepared('alice');
        const next = reset(alice);

        assert.equal(await store.accounts.commitWithConsume(next, key), 'ok');

        assert.deepEqual(await store.accounts.get(alice.id), { ...next, version: 1 });
        assert.equal(await store.accounts.notBefore(alice.id), now);
        assert.deepEqual(await store.accounts.findByLogin(alice.login), { ...next, version: 1 });
        assert.deepEqual(await store.accounts.findByEmail(alice.emails[0]!.address), { ...next, version: 1 });
        assert.equal(await store.ephemeral.get(key), undefined);
        assert.equal(await store.ephemeral.consume(key), undefined);
      });

      it('refuses a second commit of the same flow with consumed and changes nothing', async () => {
        const { alice, key } = await prepared('alice');
        assert.equal(await store.accounts.commitWithConsume(reset(alice), key), 'ok');
        const after = await store.accounts.get(alice.id);

        // Even built on the current version: the flow is gone.
        now += MINUTE;
        assert.equal(await store.accounts.commitWithConsume(reset(after!, '$argon2id$again'), key), 'consumed');

        assert.deepEqual(await store.accounts.get(alice.id), after);
        assert.equal(await store.accounts.notBefore(alice.id), after!.notBefore);
      });

      it('refuses an expired flow (by the injected clock) with consumed and changes nothing', async () => {
        const alice = account('alice');
        await store.accounts.create(alice);
        const key = flowKey(alice.id);
        const expiresAt = now + 10 * MINUTE;
        await store.ephemeral.put(key, { step: 'new-password' }, expiresAt);

        // Still stored (nothing collected it), yet over.
        now = expiresAt;
        assert.equal(await store.accounts.commitWithConsume(reset(alice), key), 'consumed');
        now = expiresAt + HOUR;
        assert.equal(await store.accounts.commitWithConsume(reset(alice), key), 'consumed');

        assert.deepEqual(await store.accounts.get(alice.id), alice);
        assert.equal(await store.accounts.notBefore(alice.id), alice.notBefore);
      });

      it('answers consumed for a flow that never existed', async () => {
        const alice = account('alice');
        await store.accounts.create(alice);
        assert.equal(await store.accounts.commitWithConsume(reset(alice), flowKey(alice.id)), 'consumed');
        assert.deepEqual(await store.accounts.get(alice.id), alice);
      });

      it('refuses a stale version with conflict and keeps the flow for a retry', async () => {
        const { alice, key } = await prepared('alice');
        const flow = await store.ephemeral.get(key);
        assert.equal(await store.accounts.replace({ ...alice, name: 'renamed meanwhile' }), true);
        const current = await store.accounts.get(alice.id);

        assert.equal(await store.accounts.commitWithConsume(reset(alice), key), 'conflict');

        assert.deepEqual(await store.accounts.get(alice.id), current);
        assert.deepEqual(await store.ephemeral.get(key), flow);

        // Re-read and retry: now it goes through, on top of the other write.
        assert.equal(await store.accounts.commitWithConsume(reset(current!), key), 'ok');
        const stored = await store.accounts.get(alice.id);
        assert.equal(stored?.version, 2);
        assert.equal(stored?.name, 'renamed meanwhile');
        assert.equal(stored?.passwordHash, '$argon2id$new');
        assert.equal(await store.ephemeral.get(key), undefined);
      });

      it('answers conflict for an account that does not exist and keeps the flow', async () => {
        const ghost = account('ghost');
        const key = flowKey(ghost.id);
        await store.ephemeral.put(key, { step: 'new-password' }, now + MINUTE);

        assert.equal(await store.accounts.commitWithConsume(reset(ghost), key), 'conflict');

        assert.equal(await store.accounts.get(ghost.id), undefined);
        assert.deepEqual(await store.ephemeral.get(key), { step: 'new-password' });
      });

      it('lets exactly one of 20 concurrent commits of one flow win', async () => {
        const { alice, key } = await prepared('alice');

        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.accounts.commitWithConsume(reset(alice, `$argon2id$try-${i}`), key)),
        );

        assert.equal(results.filter((r) => r === 'ok').length, 1, results.join(', '));
        assert.deepEqual(
          results.filter((r) => r !== 'ok'),
          Array.from({ length: 19 }, () => 'consumed'),
        );
        const winner = results.indexOf('ok');
        const stored = await store.accounts.get(alice.id);
        assert.equal(stored?.version, 1);
        assert.equal(stored?.passwordHash, `$argon2id$try-${winner}`);
        assert.equal(await store.ephemeral.get(key), undefined);
      });

      it('throws when asked to change the login or the emails, and changes nothing', async () => {
        const { alice, key } = await prepared('alice');
        const flow = await store.ephemeral.get(key);
        const refused = /commitWithConsume cannot change login or emails/;

        for (const next of [
          { ...reset(alice), emails: [{ address: email('alice.new'), verified: true }] },
          { ...reset(alice), emails: [...alice.emails, { address: email('alice.more'), verified: false }] },
          { ...reset(alice), emails: [] },
          { ...reset(alice), login: `${p}-alice2` },
        ]) {
          await assert.rejects(store.accounts.commitWithConsume(next, key), (err: unknown) => {
            assert.ok(!(err instanceof StoreUnavailable) && !(err instanceof Conflict), String(err));
            assert.match(String(err), refused);
            return true;
          });
        }

        assert.deepEqual(await store.accounts.get(alice.id), alice);
        assert.equal(await store.accounts.findByEmail(email('alice.new')), undefined);
        assert.equal(await store.accounts.findByLogin(`${p}-alice2`), undefined);
        assert.deepEqual(await store.ephemeral.get(key), flow);
        // The flow is still good for a proper commit.
        assert.equal(await store.accounts.commitWithConsume(reset(alice), key), 'ok');
      });

      it("accepts a change of an address's verified flag (no index moves)", async () => {
        const { alice, key } = await prepared('alice');
        const next = { ...reset(alice), emails: [{ address: alice.emails[0]!.address, verified: false }] };

        assert.equal(await store.accounts.commitWithConsume(next, key), 'ok');

        assert.deepEqual(await store.accounts.findByEmail(alice.emails[0]!.address), { ...next, version: 1 });
      });
    });

    describe('ephemeral', () => {
      const key = (name: string): string => `flow:{${p}}:${name}`;

      it('stores a JSON value until it expires and overwrites on put', async () => {
        const value = { step: 'code', attempts: 2, nested: { list: [1, 'two', null], ok: true } };
        await store.ephemeral.put(key('a'), value, now + MINUTE);
        assert.deepEqual(await store.ephemeral.get(key('a')), value);
        assert.equal(await store.ephemeral.get(key('missing')), undefined);

        await store.ephemeral.put(key('a'), { step: 'done' }, now + 2 * MINUTE);
        now += MINUTE + 1;
        assert.deepEqual(await store.ephemeral.get(key('a')), { step: 'done' });
      });

      it('decides expiry by the injected clock, for get and consume', async () => {
        const expiresAt = now + MINUTE;
        await store.ephemeral.put(key('a'), { v: 1 }, expiresAt);

        now = expiresAt - 1;
        assert.deepEqual(await store.ephemeral.get(key('a')), { v: 1 });

        // The record is still stored (nothing collected it), yet it is over.
        now = expiresAt;
        assert.equal(await store.ephemeral.get(key('a')), undefined);
        assert.equal(await store.ephemeral.consume(key('a')), undefined);

        now = expiresAt + HOUR;
        assert.equal(await store.ephemeral.get(key('a')), undefined);
      });

      it('consume returns the value once and removes it', async () => {
        await store.ephemeral.put(key('a'), { code: 'hmac' }, now + MINUTE);
        assert.deepEqual(await store.ephemeral.consume(key('a')), { code: 'hmac' });
        assert.equal(await store.ephemeral.consume(key('a')), undefined);
        assert.equal(await store.ephemeral.get(key('a')), undefined);
        assert.equal(await store.ephemeral.consume(key('missing')), undefined);
      });

      it('gives the value to exactly one of 50 concurrent consumers', async () => {
        await store.ephemeral.put(key('race'), { token: 'once' }, now + MINUTE);

        const results = await Promise.all(Array.from({ length: 50 }, () => store.ephemeral.consume(key('race'))));

        const winners = results.filter((r) => r !== undefined);
        assert.equal(winners.length, 1);
        assert.deepEqual(winners[0], { token: 'once' });
      });

      it('deletes a record, and deleting a missing one is fine', async () => {
        await store.ephemeral.put(key('a'), 1, now + MINUTE);
        await store.ephemeral.put(key('b'), 2, now + MINUTE);
        await store.ephemeral.delete(key('a'));
        await store.ephemeral.delete(key('missing'));
        assert.equal(await store.ephemeral.get(key('a')), undefined);
        assert.equal(await store.ephemeral.get(key('b')), 2);
      });

      it('leases: one holder at a time, kept by renewing, free again when released or ended', async () => {
        assert.equal(await store.ephemeral.acquireLease(key('lock'), 'one', now + 5_000), true);
        assert.equal(await store.ephemeral.acquireLease(key('lock'), 'two', now + 5_000), false, 'held');
        assert.equal(await store.ephemeral.get(key('lock')), 'one', 'a lease is a record whose value is its owner');

        // Only the holder renews; a renewal moves the end.
        now += 4_000;
        assert.equal(await store.ephemeral.renewLease(key('lock'), 'two', now + 5_000), false);
        assert.equal(await store.ephemeral.renewLease(key('lock'), 'one', now + 5_000), true);
        now += 4_000;
        assert.equal(await store.ephemeral.acquireLease(key('lock'), 'two', now + 5_000), false, 'still held after the first end');

        // Only the holder releases.
        await store.ephemeral.releaseLease(key('lock'), 'two');
        assert.equal(await store.ephemeral.acquireLease(key('lock'), 'two', now + 5_000), false);
        await store.ephemeral.releaseLease(key('lock'), 'one');
        assert.equal(await store.ephemeral.acquireLease(key('lock'), 'two', now + 5_000), true, 'free once released');

        // A holder that stops renewing (it died) loses it at the end, by the injected clock.
        now += 5_000;
        assert.equal(await store.ephemeral.renewLease(key('lock'), 'two', now + 5_000), false, 'an ended lease cannot be renewed');
        assert.equal(await store.ephemeral.acquireLease(key('lock'), 'three', now + 5_000), true);
        await store.ephemeral.releaseLease(key('lock'), 'two');
        assert.equal(await store.ephemeral.get(key('lock')), 'three', 'the late release of an old holder changes nothing');
      });

      it('takes a lease and reads a record of its group in one step; writes a record and releases in one step', async () => {
        const lock = key('lease-lock');
        const rec = key('lease-rec');
        assert.deepEqual(await store.ephemeral.acquireLeaseAndGet(lock, 'one', now + 5_000, rec), { taken: true, value: undefined });
        await store.ephemeral.put(rec, { state: 1 }, now + MINUTE);
        assert.deepEqual(await store.ephemeral.acquireLeaseAndGet(lock, 'two', now + 5_000, rec), { taken: false, value: { state: 1 } }, 'held: read anyway');

        // Written with the release; only the holder releases, the record is written either way.
        await store.ephemeral.putAndReleaseLease(rec, { state: 2 }, now + MINUTE, lock, 'two');
        assert.equal(await store.ephemeral.get(lock), 'one', 'not released by another owner');
        assert.deepEqual(await store.ephemeral.get(rec), { state: 2 });
        await store.ephemeral.putAndReleaseLease(rec, { state: 3 }, now + MINUTE, lock, 'one');
        assert.equal(await store.ephemeral.get(lock), undefined, 'released by its holder');
        assert.deepEqual(await store.ephemeral.acquireLeaseAndGet(lock, 'two', now + 5_000, rec), { taken: true, value: { state: 3 } });

        // An ended lease is taken over; an ended record reads as missing.
        now += 5_000;
        await store.ephemeral.put(rec, 'old', now + 1);
        now += 2;
        assert.deepEqual(await store.ephemeral.acquireLeaseAndGet(lock, 'three', now + 5_000, rec), { taken: true, value: undefined });
      });

      it('gives a lease to exactly one of 50 concurrent takers', async () => {
        const taken = await Promise.all(Array.from({ length: 50 }, (_, i) => store.ephemeral.acquireLease(key('race-lock'), `owner-${i}`, now + 5_000)));
        assert.equal(taken.filter(Boolean).length, 1);
        assert.equal(await store.ephemeral.get(key('race-lock')), `owner-${taken.indexOf(true)}`);
      });
    });

    describe('counters', () => {
      const key = (name: string): string => `cnt:{${p}}:${name}`;

      it('counts hits within a fixed window that starts at the first hit', async () => {
        const start = now;
        assert.equal(await store.counters.get(key('a')), undefined);
        assert.deepEqual(await store.counters.hit(key('a'), MINUTE), { count: 1, resetAt: start + MINUTE });

        now += 10_000;
        assert.deepEqual(await store.counters.hit(key('a'), MINUTE), { count: 2, resetAt: start + MINUTE });
        assert.deepEqual(await store.counters.hit(key('a'), MINUTE, 5), { count: 7, resetAt: start + MINUTE });
        assert.deepEqual(await store.counters.get(key('a')), { count: 7, resetAt: start + MINUTE });
        assert.equal(await store.counters.get(key('b')), undefined);
      });

      it('starts a new window once the clock passes resetAt', async () => {
        const start = now;
        await store.counters.hit(key('a'), MINUTE);
        await store.counters.hit(key('a'), MINUTE);

        now = start + MINUTE;
        assert.equal(await store.counters.get(key('a')), undefined);
        assert.deepEqual(await store.counters.hit(key('a'), MINUTE), { count: 1, resetAt: now + MINUTE });
        assert.deepEqual(await store.counters.get(key('a')), { count: 1, resetAt: now + MINUTE });
      });

      it('loses no increment under 50 concurrent hits', async () => {
        const states = await Promise.all(Array.from({ length: 50 }, () => store.counters.hit(key('race'), MINUTE)));

        assert.deepEqual(
          states.map((s) => s.count).sort((a, b) => a - b),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.deepEqual(await store.counters.get(key('race')), { count: 50, resetAt: now + MINUTE });
      });

      it('resets a counter', async () => {
        await store.counters.hit(key('a'), MINUTE, 3);
        await store.counters.hit(key('b'), MINUTE);
        await store.counters.reset(key('a'));
        await store.counters.reset(key('missing'));

        assert.equal(await store.counters.get(key('a')), undefined);
        assert.equal((await store.counters.hit(key('a'), MINUTE)).count, 1);
        assert.equal((await store.counters.get(key('b')))?.count, 1);
      });
    });

    describe('oidc models', () => {
      const id = (name: string): string => `${p}-${name}`;

      it('upserts and finds by id, uid and user code, per model', async () => {
        const session = { accountId: id('acc'), uid: id('uid1'), loginTs: 1 };
        await store.oidc.upsert('Session', id('s1'), session, now + HOUR, { accountId: id('acc'), uid: id('uid1') });
        const device = { userCode: 'ABCD-EFGH', grantId: id('g1') };
        await store.oidc.upsert('DeviceCode', id('d1'), device, now + HOUR, {
          grantId: id('g1'),
          userCode: `${p}-ABCD-EFGH`,
        });

        assert.deepEqual(await store.oidc.find('Session', id('s1')), { payload: session, createdAt: START });
        assert.deepEqual(await store.oidc.findByUid('Session', id('uid1')), { payload: session, createdAt: START });
        assert.deepEqual(await store.oidc.findByUserCode('DeviceCode', `${p}-ABCD-EFGH`), {
          payload: device,
          createdAt: START,
        });

        // Models are separate namespaces.
        assert.equal(await store.oidc.find('Grant', id('s1')), undefined);
        assert.equal(await store.oidc.findByUid('Interaction', id('uid1')), undefined);
        assert.equal(await store.oidc.findByUserCode('Session', `${p}-ABCD-EFGH`), undefined);
        assert.equal(await store.oidc.find('Session', id('missing')), undefined);
        assert.equal(await store.oidc.findByUid('Session', id('missing')), undefined);
        assert.equal(await store.oidc.findByUserCode('DeviceCode', id('missing')), undefined);
      });

      it('keeps the first createdAt when a live record is upserted again', async () => {
        await store.oidc.upsert('Session', id('s1'), { n: 1 }, now + HOUR, { accountId: id('acc') });
        now += 10 * MINUTE;
        await store.oidc.upsert('Session', id('s1'), { n: 2 }, now + HOUR, { accountId: id('acc') });

        assert.deepEqual(await store.oidc.find('Session', id('s1')), { payload: { n: 2 }, createdAt: START });
      });

      it('starts a new createdAt when an expired record is written again', async () => {
        await store.oidc.upsert('Session', id('s1'), { n: 1 }, now + MINUTE, {});
        now += 2 * MINUTE;
        await store.oidc.upsert('Session', id('s1'), { n: 2 }, now + HOUR, {});

        assert.deepEqual(await store.oidc.find('Session', id('s1')), { payload: { n: 2 }, createdAt: now });
      });

      it('decides expiry by the injected clock', async () => {
        const expiresAt = now + MINUTE;
        await store.oidc.upsert('Session', id('s1'), { a: 1 }, expiresAt, { uid: id('u1'), accountId: id('acc') });
        await store.oidc.upsert('DeviceCode', id('d1'), { b: 1 }, expiresAt, { userCode: id('CODE') });

        now = expiresAt - 1;
        assert.ok(await store.oidc.find('Session', id('s1')));
        assert.equal(await store.oidc.countByAccount('Session', id('acc')), 1);

        now = expiresAt;
        assert.equal(await store.oidc.find('Session', id('s1')), undefined);
        assert.equal(await store.oidc.findByUid('Session', id('u1')), undefined);
        assert.equal(await store.oidc.findByUserCode('DeviceCode', id('CODE')), undefined);
        assert.equal(await store.oidc.countByAccount('Session', id('acc')), 0);
      });

      it('consume marks the record consumed in epoch seconds and keeps the rest', async () => {
        await store.oidc.upsert('AuthorizationCode', id('c1'), { grantId: id('g1'), scope: 'openid' }, now + MINUTE, {
          grantId: id('g1'),
        });
        now += 1_500;

        await store.oidc.consume('AuthorizationCode', id('c1'));

        const found = await store.oidc.find('AuthorizationCode', id('c1'));
        assert.deepEqual(found?.payload, { grantId: id('g1'), scope: 'openid', consumed: Math.floor(now / 1000) });
        assert.equal(found?.createdAt, START);
      });

      it('destroys one record and leaves the others', async () => {
        await store.oidc.upsert('Session', id('s1'), { a: 1 }, now + HOUR, { uid: id('u1') });
        await store.oidc.upsert('Session', id('s2'), { a: 2 }, now + HOUR, { uid: id('u2') });

        await store.oidc.destroy('Session', id('s1'));
        await store.oidc.destroy('Session', id('missing'));

        assert.equal(await store.oidc.find('Session', id('s1')), undefined);
        assert.equal(await store.oidc.findByUid('Session', id('u1')), undefined);
        assert.deepEqual((await store.oidc.find('Session', id('s2')))?.payload, { a: 2 });
      });

      it('revokeByGrantId removes every model carrying the grant and nothing else', async () => {
        const g1 = { grantId: id('g1'), accountId: id('acc') };
        await store.oidc.upsert('Grant', id('g1'), { kind: 'Grant' }, now + HOUR, g1);
        await store.oidc.upsert('AccessToken', id('at1'), { kind: 'AccessToken' }, now + HOUR, g1);
        await store.oidc.upsert('RefreshToken', id('rt1'), { kind: 'RefreshToken' }, now + HOUR, g1);
        await store.oidc.upsert('AuthorizationCode', id('c1'), { kind: 'AuthorizationCode' }, now + HOUR, g1);
        const g2 = { grantId: id('g2'), accountId: id('acc') };
        await store.oidc.upsert('AccessToken', id('at2'), { kind: 'AccessToken' }, now + HOUR, g2);
        await store.oidc.upsert('Session', id('s1'), { kind: 'Session' }, now + HOUR, { accountId: id('acc') });

        await store.oidc.revokeByGrantId(id('g1'));

        assert.equal(await store.oidc.find('Grant', id('g1')), undefined);
        assert.equal(await store.oidc.find('AccessToken', id('at1')), undefined);
        assert.equal(await store.oidc.find('RefreshToken', id('rt1')), undefined);
        assert.equal(await store.oidc.find('AuthorizationCode', id('c1')), undefined);
        assert.ok(await store.oidc.find('AccessToken', id('at2')));
        assert.ok(await store.oidc.find('Session', id('s1')));
      });

      it("revokeByAccount removes all of the account's records, not others', and returns how many", async () => {
        const alice = { accountId: id('alice') };
        await store.oidc.upsert('Session', id('s1'), { a: 1 }, now + HOUR, { ...alice, uid: id('u1') });
        await store.oidc.upsert('Grant', id('g1'), { a: 2 }, now + HOUR, { ...alice, grantId: id('g1') });
        await store.oidc.upsert('AccessToken', id('at1'), { a: 3 }, now + HOUR, { ...alice, grantId: id('g1') });
        // Already over by the time of the revocation: removed, but not counted as revoked.
        await store.oidc.upsert('AccessToken', id('at0'), { a: 0 }, now + MINUTE, { ...alice, grantId: id('g1') });
        await store.oidc.upsert('Session', id('s2'), { b: 1 }, now + HOUR, { accountId: id('bob'), uid: id('u2') });
        now += 2 * MINUTE;

        assert.equal(await store.oidc.revokeByAccount(id('alice')), 3);

        assert.equal(await store.oidc.find('Session', id('s1')), undefined);
        assert.equal(await store.oidc.findByUid('Session', id('u1')), undefined);
        assert.equal(await store.oidc.find('Grant', id('g1')), undefined);
        assert.equal(await store.oidc.find('AccessToken', id('at1')), undefined);
        assert.equal(await store.oidc.countByAccount('Session', id('alice')), 0);
        assert.deepEqual((await store.oidc.find('Session', id('s2')))?.payload, { b: 1 });
        assert.equal(await store.oidc.countByAccount('Session', id('bob')), 1);
        assert.equal(await store.oidc.revokeByAccount(id('alice')), 0);
      });

      it('countByAccount counts live records of one model for one account', async () => {
        await store.oidc.upsert('Session', id('s1'), {}, now + HOUR, { accountId: id('alice') });
        await store.oidc.upsert('Session', id('s2'), {}, now + HOUR, { accountId: id('alice') });
        await store.oidc.upsert('Session', id('s3'), {}, now + MINUTE, { accountId: id('alice') });
        await store.oidc.upsert('AccessToken', id('at1'), {}, now + HOUR, { accountId: id('alice') });
        await store.oidc.upsert('Session', id('s4'), {}, now + HOUR, { accountId: id('bob') });

        assert.equal(await store.oidc.countByAccount('Session', id('alice')), 3);
        now += 2 * MINUTE;
        assert.equal(await store.oidc.countByAccount('Session', id('alice')), 2);
        assert.equal(await store.oidc.countByAccount('AccessToken', id('alice')), 1);
        assert.equal(await store.oidc.countByAccount('Grant', id('alice')), 0);
        assert.equal(await store.oidc.countByAccount('Session', id('nobody')), 0);
      });

      it("listByAccount returns the live payloads of one model for one account, consumed included", async () => {
        const byPayload = (a: Record<string, unknown>, b: Record<string, unknown>): number => JSON.stringify(a).localeCompare(JSON.stringify(b));
        const s1 = { accountId: id('alice'), authorizations: { rp: { sid: 'sid-1', grantId: id('g1') } } };
        const s2 = { accountId: id('alice'), authorizations: {} };
        await store.oidc.upsert('Session', id('s1'), s1, now + HOUR, { accountId: id('alice'), uid: id('u1') });
        await store.oidc.upsert('Session', id('s2'), s2, now + HOUR, { accountId: id('alice'), uid: id('u2') });
        await store.oidc.upsert('Session', id('s3'), { accountId: id('alice'), short: true }, now + MINUTE, { accountId: id('alice') });
        await store.oidc.upsert('AccessToken', id('at1'), { accountId: id('alice') }, now + HOUR, { accountId: id('alice') });
        await store.oidc.upsert('Session', id('s4'), { accountId: id('bob') }, now + HOUR, { accountId: id('bob') });
        // Not indexed by the account: never listed for it.
        await store.oidc.upsert('Session', id('s5'), { accountId: id('alice') }, now + HOUR, {});

        assert.equal((await store.oidc.listByAccount('Session', id('alice'))).length, 3);
        now += 2 * MINUTE;
        assert.deepEqual((await store.oidc.listByAccount('Session', id('alice'))).sort(byPayload), [s1, s2].sort(byPayload));
        assert.deepEqual(await store.oidc.listByAccount('AccessToken', id('alice')), [{ accountId: id('alice') }]);
        assert.deepEqual(await store.oidc.listByAccount('Grant', id('alice')), []);
        assert.deepEqual(await store.oidc.listByAccount('Session', id('nobody')), []);

        await store.oidc.consume('AccessToken', id('at1'));
        assert.deepEqual(await store.oidc.listByAccount('AccessToken', id('alice')), [{ accountId: id('alice'), consumed: Math.floor(now / 1000) }]);

        // Re-upserted under another account: listed for that one only.
        await store.oidc.upsert('Session', id('s2'), { accountId: id('bob') }, now + HOUR, { accountId: id('bob') });
        assert.deepEqual(await store.oidc.listByAccount('Session', id('alice')), [s1]);
        assert.equal((await store.oidc.listByAccount('Session', id('bob'))).length, 2);

        await store.oidc.destroy('Session', id('s1'));
        assert.deepEqual(await store.oidc.listByAccount('Session', id('alice')), []);
        await store.oidc.revokeByAccount(id('bob'));
        assert.deepEqual(await store.oidc.listByAccount('Session', id('bob')), []);
      });
    });

    describe('logs', () => {
      const stream = (name: string): string => `${name}:${p}`;

      it('lists a stream newest first with seq set, honouring limit and since', async () => {
        const entries: LogEntry[] = [];
        for (const type of ['signin', 'reset_started', 'reset_done', 'signout']) {
          const entry = { at: now, type, account: 'acc-1', detail: { ip: '192.0.2.1' } };
          entries.push(entry);
          await store.logs.append(stream('audit'), entry, now + HOUR);
          now += 1_000;
        }

        const all = await store.logs.list(stream('audit'), { limit: 10 });
        assert.deepEqual(
          all.map(({ seq: _seq, ...rest }) => rest),
          [...entries].reverse(),
        );
        const seqs = all.map((e) => e.seq);
        assert.ok(seqs.every((s) => typeof s === 'number'));
        assert.deepEqual(seqs, [...seqs].sort((a, b) => b! - a!));
        assert.equal(new Set(seqs).size, seqs.length);

        assert.deepEqual(
          (await store.logs.list(stream('audit'), { limit: 2 })).map((e) => e.type),
          ['signout', 'reset_done'],
        );
        assert.deepEqual(
          (await store.logs.list(stream('audit'), { limit: 10, since: START + 1_000 })).map((e) => e.type),
          ['signout', 'reset_done', 'reset_started'],
        );
        assert.deepEqual(
          (await store.logs.list(stream('audit'), { limit: 1, since: START + 1_000 })).map((e) => e.type),
          ['signout'],
        );
      });

      it('orders by at then seq, bounds by until (exclusive) and pages with an olderThan cursor', async () => {
        // Appended out of time order (another process's clock, a late write), several per millisecond.
        const plan: [string, number][] = [
          ['b1', START + 2_000],
          ['a1', START + 1_000],
          ['b2', START + 2_000],
          ['c1', START + 3_000],
          ['b3', START + 2_000],
          ['a2', START + 1_000],
          ['d1', START + 4_000],
        ];
        for (const [type, at] of plan) await store.logs.append(stream('audit'), { at, type }, now + HOUR);
        const types = (entries: LogEntry[]): string[] => entries.map((e) => String(e.type));
        const list = (options: Parameters<Store['logs']['list']>[1]) => store.logs.list(stream('audit'), options);

        assert.deepEqual(types(await list({ limit: 100 })), ['d1', 'c1', 'b3', 'b2', 'b1', 'a2', 'a1'], 'by at, then by seq');
        assert.deepEqual(types(await list({ limit: 100, until: START + 3_000 })), ['b3', 'b2', 'b1', 'a2', 'a1'], 'until is exclusive');
        assert.deepEqual(types(await list({ limit: 100, since: START + 2_000, until: START + 4_000 })), ['c1', 'b3', 'b2', 'b1']);
        assert.deepEqual(await list({ limit: 100, since: START + 3_000, until: START + 3_000 }), []);

        // Pages of two, the cursor in the middle of a millisecond: nothing twice, nothing lost.
        for (const bounds of [{}, { since: START + 1_000, until: START + 4_000 }]) {
          const seen: string[] = [];
          let cursor: { at: number; seq: number } | undefined;
          for (let i = 0; i < 10; i += 1) {
            const page = await list({ limit: 2, ...bounds, ...(cursor ? { olderThan: cursor } : {}) });
            seen.push(...types(page));
            if (page.length < 2) break;
            const last = page[page.length - 1]!;
            cursor = { at: last.at, seq: last.seq! };
          }
          const expected = ['d1', 'c1', 'b3', 'b2', 'b1', 'a2', 'a1'].filter((t) => ('until' in bounds ? t !== 'd1' : true));
          assert.deepEqual(seen, expected, JSON.stringify(bounds));
        }
        // A cursor later than `until` leaves `until` in charge.
        const all = await list({ limit: 100 });
        const d1 = all[0]!;
        assert.deepEqual(types(await list({ limit: 100, until: START + 2_000, olderThan: { at: d1.at, seq: d1.seq! } })), ['a2', 'a1']);
      });

      it('keeps streams apart', async () => {
        await store.logs.append(stream('audit'), { at: now, type: 'a' }, now + HOUR);
        await store.logs.append(stream('outbox'), { at: now, type: 'mail' }, now + HOUR);

        assert.deepEqual(
          (await store.logs.list(stream('outbox'), { limit: 10 })).map((e) => e.type),
          ['mail'],
        );
        assert.deepEqual(await store.logs.list(stream('empty'), { limit: 10 }), []);
      });

      it('stops returning entries once their retention is over', async () => {
        await store.logs.append(stream('audit'), { at: now, type: 'short' }, now + MINUTE);
        await store.logs.append(stream('audit'), { at: now, type: 'long' }, now + HOUR);

        assert.equal((await store.logs.list(stream('audit'), { limit: 10 })).length, 2);
        now += MINUTE;
        assert.deepEqual(
          (await store.logs.list(stream('audit'), { limit: 10 })).map((e) => e.type),
          ['long'],
        );
        now += HOUR;
        assert.deepEqual(await store.logs.list(stream('audit'), { limit: 10 }), []);
      });
    });

    describe('health', () => {
      it('answers ping while open and rejects with StoreUnavailable once closed', async () => {
        await store.ping();
        await store.close();

        await assert.rejects(store.ping(), StoreUnavailable);
        await assert.rejects(store.accounts.get('anything'), StoreUnavailable);
        await assert.rejects(store.ephemeral.put(`k:{${p}}`, 1, now + MINUTE), StoreUnavailable);
      });
    });
  });
}
