/**
 * oidc-provider records on Redis. Each (model, id) is a hash on its own slot
 * (`o:<model>:{<id>}`: p payload, c createdAt, e expiresAt, x consumed, and the index values
 * a/g/u/uc it was written with). Secondary indexes are separate keys on other slots:
 * `oidc-uid:…` / `oidc-usercode:…` strings pointing to the record key, and the sets
 * `{g:<grantId>}:oidc` and `{a:<accountId>}:oidc` (the account's own slot) of record keys.
 *
 * Index and record are on different slots, so on a cluster they are written one after the
 * other: the indexes first, then the record, so a record that exists is always findable by the
 * revocation calls. On a single Redis one script writes them all (one round trip). Every read
 * through an index checks the record still carries that index value and is live by the
 * injected clock; set members whose record is gone or over are pruned when met. Otherwise no
 * command spans two slots: multi-record work issues one command per key.
 */
import { Cluster } from 'ioredis';
import type { Clock, OidcModelStore, OidcRecord } from '../../../src/store/types.ts';
import type { Conn } from './connection.ts';
import { gcTtl, keys, oidcModelPrefix } from './keys.ts';
import { runScript } from './scripts.ts';

type IndexField = 'a' | 'g' | 'u' | 'uc';

export function redisOidc(conn: Conn, clock: Clock): OidcModelStore {
  const { client, run } = conn;
  // On a single Redis a script may touch any key: a record and its indexes go in one script.
  const single = !(client instanceof Cluster);

  /** The record if it is live; `check` names an index field that must still hold `value`. */
  async function read(recordKey: string, check?: { field: IndexField; value: string }): Promise<OidcRecord | undefined> {
    const fields = check === undefined ? ['p', 'c', 'e', 'x'] : ['p', 'c', 'e', 'x', check.field];
    const [p, c, e, x, indexed] = await client.hmget(recordKey, ...fields);
    if (p == null || c == null || e == null || Number(e) <= clock()) return undefined;
    if (check !== undefined && indexed !== check.value) return undefined;
    const payload = JSON.parse(p) as Record<string, unknown>;
    if (x != null) payload.consumed = Number(x);
    return { payload, createdAt: Number(c) };
  }

  async function viaPointer(pointerKey: string, field: IndexField, value: string): Promise<OidcRecord | undefined> {
    const recordKey = await client.get(pointerKey);
    return recordKey === null ? undefined : read(recordKey, { field, value });
  }

  /** Deletes every record in the set that still carries `value` in `field`; returns their expiresAt. */
  async function revokeSet(setKey: string, field: 'a' | 'g', value: string): Promise<number[]> {
    const members = await client.smembers(setKey);
    if (members.length === 0) return [];
    // One command per record: the records live on other slots (and nodes) than the set.
    const ends = await Promise.all(
      members.map((m) => runScript<string | null>(client, 'rekeyOidcRevoke', [m], [field, value])),
    );
    // Only the members handled: one added meanwhile by a concurrent upsert stays indexed.
    await client.srem(setKey, ...members);
    return ends.filter((e): e is string => e !== null).map(Number);
  }

  return {
    async upsert(model, id, payload, expiresAt, indexes) {
      await run(async () => {
        const now = clock();
        const recordKey = keys.oidc(model, id);
        const ttl = gcTtl(expiresAt, now);
        const { accountId, grantId, uid, userCode } = indexes;
        const args = [JSON.stringify(payload), String(expiresAt), String(now), ttl, accountId ?? '', grantId ?? '', uid ?? '', userCode ?? ''];
        if (single) {
          // One Redis: record and indexes in one script (an index the record has not: its key again, untouched).
          const indexKeys = [
            accountId ? keys.accountOidc(accountId) : recordKey,
            grantId ? keys.grantOidc(grantId) : recordKey,
            uid ? keys.oidcUid(model, uid) : recordKey,
            userCode ? keys.oidcUserCode(model, userCode) : recordKey,
          ];
          await runScript(client, 'rekeyOidcUpsertIndexed', [recordKey, ...indexKeys], [...args, recordKey]);
          return;
        }
        const pending: Promise<unknown>[] = [];
        if (accountId) pending.push(runScript(client, 'rekeySetAdd', [keys.accountOidc(accountId)], [recordKey, ttl]));
        if (grantId) pending.push(runScript(client, 'rekeySetAdd', [keys.grantOidc(grantId)], [recordKey, ttl]));
        if (uid) pending.push(client.set(keys.oidcUid(model, uid), recordKey, 'PX', ttl));
        if (userCode) pending.push(client.set(keys.oidcUserCode(model, userCode), recordKey, 'PX', ttl));
        await Promise.all(pending);
        await runScript(client, 'rekeyOidcUpsert', [recordKey], args);
      });
    },

    async find(model, id) {
      return run(() => read(keys.oidc(model, id)));
    },

    async findByUid(model, uid) {
      return run(() => viaPointer(keys.oidcUid(model, uid), 'u', uid));
    },

    async findByUserCode(model, userCode) {
      return run(() => viaPointer(keys.oidcUserCode(model, userCode), 'uc', userCode));
    },

    async consume(model, id) {
      await run(async () => {
        const now = clock();
        await runScript(client, 'rekeyOidcConsume', [keys.oidc(model, id)], [String(now), Math.floor(now / 1000)]);
      });
    },

    async destroy(model, id) {
      await run(async () => {
        const recordKey = keys.oidc(model, id);
        const [a, g, u, uc] = await runScript<(string | null)[]>(client, 'rekeyOidcDestroy', [recordKey], []);
        const cleanup: Promise<unknown>[] = [];
        if (a) cleanup.push(client.srem(keys.accountOidc(a), recordKey));
        if (g) cleanup.push(client.srem(keys.grantOidc(g), recordKey));
        if (u) cleanup.push(runScript(client, 'rekeyDeleteIf', [keys.oidcUid(model, u)], [recordKey]));
        if (uc) cleanup.push(runScript(client, 'rekeyDeleteIf', [keys.oidcUserCode(model, uc)], [recordKey]));
        await Promise.all(cleanup);
      });
    },

    async revokeByGrantId(grantId) {
      await run(() => revokeSet(keys.grantOidc(grantId), 'g', grantId));
    },

    async revokeByAccount(accountId) {
      return run(async () => {
        const now = clock();
        // Expired records go too, but only live ones count (the same rule as SQLite's: a
        // backend whose TTLs already collected the rest reports the same number).
        const ends = await revokeSet(keys.accountOidc(accountId), 'a', accountId);
        return ends.filter((e) => e > now).length;
      });
    },

    async countByAccount(model, accountId) {
      return run(async () => {
        const setKey = keys.accountOidc(accountId);
        const prefix = oidcModelPrefix(model);
        const members = (await client.smembers(setKey)).filter((m) => m.startsWith(prefix));
        if (members.length === 0) return 0;
        const now = clock();
        const states = await Promise.all(members.map((m) => client.hmget(m, 'e', 'a')));
        const stale: string[] = [];
        let live = 0;
        states.forEach(([e, a], i) => {
          if (e != null && a === accountId && Number(e) > now) live += 1;
          else stale.push(members[i]!);
        });
        if (stale.length > 0) await client.srem(setKey, ...stale);
        return live;
      });
    },

    async listByAccount(model, accountId) {
      return run(async () => {
        const prefix = oidcModelPrefix(model);
        const members = (await client.smembers(keys.accountOidc(accountId))).filter((m) => m.startsWith(prefix));
        // No pruning here: a member whose record is not written yet (an upsert in flight writes
        // the index first) must stay indexed for revokeByAccount; countByAccount and the TTLs
        // collect the rest.
        const records = await Promise.all(members.map((m) => read(m, { field: 'a', value: accountId })));
        return records.filter((r): r is OidcRecord => r !== undefined).map((r) => r.payload);
      });
    },
  };
}
