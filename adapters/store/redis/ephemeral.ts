/**
 * Ephemeral records on Redis: one string key per record holding the value together with its
 * `expiresAt` (`{"e":expiresAt,"v":value}`). Expiry is decided against that stored time and
 * the injected clock; the Redis TTL (expiresAt + grace) only collects garbage.
 */
import calculateSlot from 'cluster-key-slot';
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
  const keyPrefix = client.options.keyPrefix ?? '';
  /** Two keys one script touches: checked on standalone Redis too, so what works there works on a cluster. */
  const sameSlot = (what: string, a: string, b: string): void => {
    if (calculateSlot(`${keyPrefix}${keys.ephemeral(a)}`) !== calculateSlot(`${keyPrefix}${keys.ephemeral(b)}`)) {
      throw new Error(`${what}: keys ${a} and ${b} are not on one slot (give them the same {group})`);
    }
  };
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
    async acquireLeaseAndGet<T>(leaseKey: string, owner: string, expiresAt: number, key: string) {
      sameSlot('acquireLeaseAndGet', leaseKey, key);
      return run(async () => {
        const now = clock();
        const [taken, raw] = await runScript<[number, string | null]>(
          client,
          'rekeyLeaseAcquireGet',
          [keys.ephemeral(leaseKey), keys.ephemeral(key)],
          [String(now), encodeEphemeral(owner, expiresAt), gcTtl(expiresAt, now)],
        );
        // A Lua false comes back as null.
        return { taken: taken === 1, value: live<T>(raw ?? null, clock()) };
      });
    },
    async putAndReleaseLease(key, value, expiresAt, leaseKey, owner) {
      sameSlot('putAndReleaseLease', key, leaseKey);
      await run(async () => {
        await runScript<number>(
          client,
          'rekeyPutReleaseLease',
          [keys.ephemeral(key), keys.ephemeral(leaseKey)],
          [encodeEphemeral(value, expiresAt), gcTtl(expiresAt, clock()), owner],
        );
      });
    },
    async releaseLease(key, owner) {
      await run(async () => {
        await runScript<number>(client, 'rekeyLeaseKeep', [keys.ephemeral(key)], [String(clock()), owner]);
      });
    },
  };
}
