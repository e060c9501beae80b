import type { Clock, OidcModelStore, OidcRecord } from '../../../src/store/types.ts';
import { runner, SWEEP_BATCH, SWEEP_INTERVAL_MS, throttled, type Db } from './db.ts';

interface OidcRow {
  payload: string;
  created_at: number;
}

function toRecord(row: OidcRow | undefined): OidcRecord | undefined {
  if (row === undefined) return undefined;
  return { payload: JSON.parse(row.payload) as Record<string, unknown>, createdAt: row.created_at };
}

interface UpsertParams {
  model: string;
  id: string;
  payload: string;
  expiresAt: number;
  now: number;
  accountId: string | null;
  grantId: string | null;
  uid: string | null;
  userCode: string | null;
}

export function sqliteOidc(db: Db, clock: Clock): OidcModelStore {
  const run = runner(db);
  // created_at survives a re-upsert of a live record (sessions are rewritten on every use, and
  // the revocation check compares their first write with notBefore). An expired row counts as
  // missing, so writing its id again starts a new record.
  const upsert = db.prepare<UpsertParams>(
    `INSERT INTO oidc (model, id, payload, expires_at, created_at, account_id, grant_id, uid, user_code)
     VALUES (@model, @id, @payload, @expiresAt, @now, @accountId, @grantId, @uid, @userCode)
     ON CONFLICT (model, id) DO UPDATE SET
       payload = excluded.payload,
       expires_at = excluded.expires_at,
       created_at = CASE WHEN oidc.expires_at <= @now THEN excluded.created_at ELSE oidc.created_at END,
       account_id = excluded.account_id,
       grant_id = excluded.grant_id,
       uid = excluded.uid,
       user_code = excluded.user_code`,
  );
  const byId = db.prepare<[string, string, number], OidcRow>(
    'SELECT payload, created_at FROM oidc WHERE model = ? AND id = ? AND expires_at > ?',
  );
  // Newest first in case a value was reused: the latest writer is the one the provider means.
  const byUid = db.prepare<[string, string, number], OidcRow>(
    `SELECT payload, created_at FROM oidc WHERE model = ? AND uid = ? AND expires_at > ?
     ORDER BY created_at DESC LIMIT 1`,
  );
  const byUserCode = db.prepare<[string, string, number], OidcRow>(
    `SELECT payload, created_at FROM oidc WHERE model = ? AND user_code = ? AND expires_at > ?
     ORDER BY created_at DESC LIMIT 1`,
  );
  // json_set in the UPDATE keeps read-modify-write in one statement, so no concurrent upsert
  // is lost between reading the payload and writing it back.
  const consume = db.prepare<[number, string, string, number]>(
    `UPDATE oidc SET payload = json_set(payload, '$.consumed', ?)
     WHERE model = ? AND id = ? AND expires_at > ?`,
  );
  const destroy = db.prepare<[string, string]>('DELETE FROM oidc WHERE model = ? AND id = ?');
  const byGrant = db.prepare<[string]>('DELETE FROM oidc WHERE grant_id = ?');
  const byAccount = db.prepare<[string], { expires_at: number }>(
    'DELETE FROM oidc WHERE account_id = ? RETURNING expires_at',
  );
  const countLive = db.prepare<[string, string, number], { n: number }>(
    'SELECT count(*) AS n FROM oidc WHERE account_id = ? AND model = ? AND expires_at > ?',
  );
  const listLive = db.prepare<[string, string, number], { payload: string }>(
    'SELECT payload FROM oidc WHERE account_id = ? AND model = ? AND expires_at > ?',
  );
  const collect = db.prepare<[number, number]>(
    'DELETE FROM oidc WHERE rowid IN (SELECT rowid FROM oidc WHERE expires_at <= ? LIMIT ?)',
  );
  const sweep = throttled(clock, SWEEP_INTERVAL_MS, (now) => collect.run(now, SWEEP_BATCH));

  return {
    async upsert(model, id, payload, expiresAt, indexes) {
      run(() => {
        upsert.run({
          model,
          id,
          payload: JSON.stringify(payload),
          expiresAt,
          now: clock(),
          accountId: indexes.accountId ?? null,
          grantId: indexes.grantId ?? null,
          uid: indexes.uid ?? null,
          userCode: indexes.userCode ?? null,
        });
        sweep();
      });
    },
    async find(model, id) {
      return run(() => toRecord(byId.get(model, id, clock())));
    },
    async findByUid(model, uid) {
      return run(() => toRecord(byUid.get(model, uid, clock())));
    },
    async findByUserCode(model, userCode) {
      return run(() => toRecord(byUserCode.get(model, userCode, clock())));
    },
    async consume(model, id) {
      run(() => {
        const now = clock();
        consume.run(Math.floor(now / 1000), model, id, now);
      });
    },
    async destroy(model, id) {
      run(() => destroy.run(model, id));
    },
    async revokeByGrantId(grantId) {
      run(() => byGrant.run(grantId));
    },
    async revokeByAccount(accountId) {
      return run(() => {
        const now = clock();
        // Expired rows go too, but only live ones count: they are what was actually revoked,
        // and a backend whose TTLs already collected the rest reports the same number.
        return byAccount.all(accountId).filter((row) => row.expires_at > now).length;
      });
    },
    async countByAccount(model, accountId) {
      // An aggregate always yields one row.
      return run(() => countLive.get(accountId, model, clock())!.n);
    },
    async listByAccount(model, accountId) {
      return run(() => listLive.all(accountId, model, clock()).map((row) => JSON.parse(row.payload) as Record<string, unknown>));
    },
  };
}
