import type { Clock, EphemeralStore } from '../../../src/store/types.ts';
import { runner, SWEEP_BATCH, SWEEP_INTERVAL_MS, throttled, type Db } from './db.ts';

export function sqliteEphemeral(db: Db, clock: Clock): EphemeralStore {
  const run = runner(db);
  const upsert = db.prepare<[string, string, number]>(
    `INSERT INTO ephemeral (key, value, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
  );
  const read = db.prepare<[string, number], { value: string }>(
    'SELECT value FROM ephemeral WHERE key = ? AND expires_at > ?',
  );
  // One statement, so of concurrent consumers (other processes included) only one gets the row.
  const take = db.prepare<[string], { value: string; expires_at: number }>(
    'DELETE FROM ephemeral WHERE key = ? RETURNING value, expires_at',
  );
  const remove = db.prepare<[string]>('DELETE FROM ephemeral WHERE key = ?');
  // A lease is a row whose value is its owner (JSON): taken only over a row that has ended.
  const takeLease = db.prepare<{ key: string; value: string; expiresAt: number; now: number }>(
    `INSERT INTO ephemeral (key, value, expires_at) VALUES (@key, @value, @expiresAt)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
     WHERE ephemeral.expires_at <= @now`,
  );
  const renewLease = db.prepare<{ key: string; value: string; expiresAt: number; now: number }>(
    'UPDATE ephemeral SET expires_at = @expiresAt WHERE key = @key AND value = @value AND expires_at > @now',
  );
  const dropLease = db.prepare<[string, string]>('DELETE FROM ephemeral WHERE key = ? AND value = ?');
  const collect = db.prepare<[number, number]>(
    'DELETE FROM ephemeral WHERE rowid IN (SELECT rowid FROM ephemeral WHERE expires_at <= ? LIMIT ?)',
  );
  const sweep = throttled(clock, SWEEP_INTERVAL_MS, (now) => collect.run(now, SWEEP_BATCH));
  // Two steps in one transaction each (IMMEDIATE: the write lock up front, as every writer here).
  const leaseAndRead = db.transaction((leaseKey: string, owner: string, expiresAt: number, key: string) => {
    const now = clock();
    const taken = takeLease.run({ key: leaseKey, value: JSON.stringify(owner), expiresAt, now }).changes === 1;
    const row = read.get(key, now);
    return { taken, raw: row?.value };
  });
  const putAndRelease = db.transaction((key: string, value: unknown, expiresAt: number, leaseKey: string, owner: string) => {
    upsert.run(key, JSON.stringify(value ?? null), expiresAt);
    dropLease.run(leaseKey, JSON.stringify(owner));
    sweep();
  });

  return {
    async put(key, value, expiresAt) {
      run(() => {
        // JSON has no undefined; null is the closest value that still round-trips.
        upsert.run(key, JSON.stringify(value ?? null), expiresAt);
        sweep();
      });
    },
    async get<T>(key: string) {
      return run(() => {
        const row = read.get(key, clock());
        return row === undefined ? undefined : (JSON.parse(row.value) as T);
      });
    },
    async consume<T>(key: string) {
      return run(() => {
        const row = take.get(key);
        // Deleting an expired row here is harmless: it was garbage already.
        if (row === undefined || row.expires_at <= clock()) return undefined;
        return JSON.parse(row.value) as T;
      });
    },
    async delete(key) {
      run(() => remove.run(key));
    },
    async acquireLease(key, owner, expiresAt) {
      return run(() => takeLease.run({ key, value: JSON.stringify(owner), expiresAt, now: clock() }).changes === 1);
    },
    async renewLease(key, owner, expiresAt) {
      return run(() => renewLease.run({ key, value: JSON.stringify(owner), expiresAt, now: clock() }).changes === 1);
    },
    async acquireLeaseAndGet<T>(leaseKey: string, owner: string, expiresAt: number, key: string) {
      return run(() => {
        const { taken, raw } = leaseAndRead.immediate(leaseKey, owner, expiresAt, key);
        return { taken, value: raw === undefined ? undefined : (JSON.parse(raw) as T) };
      });
    },
    async putAndReleaseLease(key, value, expiresAt, leaseKey, owner) {
      run(() => putAndRelease.immediate(key, value, expiresAt, leaseKey, owner));
    },
    async releaseLease(key, owner) {
      run(() => dropLease.run(key, JSON.stringify(owner)));
    },
  };
}
