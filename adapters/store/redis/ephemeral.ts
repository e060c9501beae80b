/**
 * Ephemeral records on Redis: one string key per record holding the value together with its
 * `expiresAt` (`{"e":expiresAt,"v":value}`). Expiry is decided against that stored time and
 * the injected clock; the Redis TTL (expiresAt + grace) only collects garbage.
 */
import type { Clock, EphemeralStore } from '../../../src/store/types.ts';
import type { Conn } from './connection.ts';
import { gcTtl, keys } from './keys.ts';
import { runScript } from './scripts.ts';

/** The stored form; a later multi-key script (e.g. the reset commit) reads the same shape. */
export interface StoredEphemeral {
  e: number;
  v: unknown;
}

export function encodeEphemeral(value: unknown, expiresAt: number): string {
  // JSON has no undefined; null is the closest value that still round-trips.
  return JSON.stringify({ e: expiresAt, v: value ?? null } satisfies StoredEphemeral);
}

function live<T>(raw: string | null, now: number): T | undefined {
  if (raw === null) return undefined;
  const stored = JSON.parse(raw) as StoredEphemeral;
  return stored.e > now ? (stored.v as T) : undefined;
}

export function redisEphemeral(conn: Conn, clock: Clock): EphemeralStore {
  const { client, run } = conn;
  return {
    async put(key, value, expiresAt) {
      await run(async () => {
        await client.set(keys.ephemeral(key), encodeEphemeral(value, expiresAt), 'PX', gcTtl(expiresAt, clock()));
      });
    },
    async get<T>(key: string) {
      return run(async () => live<T>(await client.get(keys.ephemeral(key)), clock()));
    },
    async consume<T>(key: string) {
      // GETDEL is atomic: of concurrent consumers exactly one gets the value. Deleting an
      // expired record here is harmless: it was garbage already.
      return run(async () => live<T>(await client.getdel(keys.ephemeral(key)), clock()));
    },
    async delete(key) {
      await run(async () => {
        await client.del(keys.ephemeral(key));
      });
    },
    async acquireLease(key, owner, expiresAt) {
      return run(async () => {
        const now = clock();
        const taken = await runScript<number>(client, 'rekeyLeaseAcquire', [keys.ephemeral(key)], [String(now), encodeEphemeral(owner, expiresAt), gcTtl(expiresAt, now)]);
        return taken === 1;
      });
    },
    async renewLease(key, owner, expiresAt) {
      return run(async () => {
        const now = clock();
        const kept = await runScript<number>(client, 'rekeyLeaseKeep', [keys.ephemeral(key)], [String(now), owner, encodeEphemeral(owner, expiresAt), gcTtl(expiresAt, now)]);
        return kept === 1;
      });
    },
    async releaseLease(key, owner) {
      await run(async () => {
        await runScript<number>(client, 'rekeyLeaseKeep', [keys.ephemeral(key)], [String(clock()), owner]);
      });
    },
  };
}
