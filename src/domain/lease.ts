/**
 * One holder at a time for a piece of server-side state (a reset flow, a sign-in interaction, a
 * session's security info), across processes: a store lease (EphemeralStore.acquireLease) that
 * its holder renews while it works and releases when done. Whatever the holder waits on (a
 * replica's WAIT, a slow mail server) it keeps the lease; a holder that died (a crash, a
 * SIGKILL, a store gone before the release) stops renewing, and the state is free again within
 * LEASE_MS instead of staying "busy".
 */
import type { Clock, EphemeralStore } from '../store/types.ts';
import { randomId } from './secrets.ts';

/** How long a lease lives without renewal: the longest a dead holder keeps anyone waiting. */
export const LEASE_MS = 5_000;
/** How often a live holder renews (a renewal may fail twice before the lease could end). */
const RENEW_EVERY_MS = 1_500;
const POLL_MS = 25;

export type Leased<T> = { held: true; value: T } | { held: false };

/** What the holder of a lease taken with `read` gets (see `withLeasedRecord`). */
export interface LeaseHold<R> {
  /** The record at `read`, as it was right after the lease was taken. */
  readonly record: R | undefined;
  /**
   * Writes `value` at `key` (a key of the lease's `{group}`) together with the release, when
   * the holder is done: one store step instead of two. The last call wins. Written also when
   * the holder throws afterwards (as an immediate write would have been).
   */
  putOnRelease(key: string, value: unknown, expiresAt: number): void;
}

/**
 * Runs `fn` holding the lease at `key`. When another holder has it, waits up to `waitMs` for
 * it (default: not at all) and then answers `{ held: false }` without running `fn`.
 */
export async function withLease<T>(
  ephemeral: EphemeralStore,
  clock: Clock,
  key: string,
  fn: () => Promise<T>,
  options: { waitMs?: number } = {},
): Promise<Leased<T>> {
  const owner = randomId(12);
  const deadline = Date.now() + (options.waitMs ?? 0);
  while (!(await ephemeral.acquireLease(key, owner, clock() + LEASE_MS))) {
    if (Date.now() >= deadline) return { held: false };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const renew = keepRenewing(ephemeral, clock, key, owner);
  try {
    return { held: true, value: await fn() };
  } finally {
    clearInterval(renew);
    await ephemeral.releaseLease(key, owner).catch(() => undefined);
  }
}

/**
 * `withLease` for state kept in one record of the lease's `{group}`: the lease is taken and the
 * record read in one store step, and the holder's last write of the record can go with the
 * release in one more (`putOnRelease`). When another holder has the lease (after waiting up to
 * `waitMs` for it, default not at all), answers `{ held: false }` with the record as last read.
 */
export async function withLeasedRecord<T, R>(
  ephemeral: EphemeralStore,
  clock: Clock,
  key: string,
  read: string,
  fn: (hold: LeaseHold<R>) => Promise<T>,
  options: { waitMs?: number } = {},
): Promise<{ held: true; value: T } | { held: false; record: R | undefined }> {
  const owner = randomId(12);
  const deadline = Date.now() + (options.waitMs ?? 0);
  let got = await ephemeral.acquireLeaseAndGet<R>(key, owner, clock() + LEASE_MS, read);
  while (!got.taken) {
    if (Date.now() >= deadline) return { held: false, record: got.value };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    got = await ephemeral.acquireLeaseAndGet<R>(key, owner, clock() + LEASE_MS, read);
  }
  const renew = keepRenewing(ephemeral, clock, key, owner);
  let last: { key: string; value: unknown; expiresAt: number } | undefined;
  const hold: LeaseHold<R> = {
    record: got.value,
    putOnRelease(k, value, expiresAt) {
      last = { key: k, value, expiresAt };
    },
  };
  const finish = async (): Promise<void> => {
    clearInterval(renew);
    if (!last) return ephemeral.releaseLease(key, owner).catch(() => undefined);
    try {
      await ephemeral.putAndReleaseLease(last.key, last.value, last.expiresAt, key, owner);
    } catch (err) {
      // The write failed (the step fails with it); the lease is freed if the store lets us.
      await ephemeral.releaseLease(key, owner).catch(() => undefined);
      throw err;
    }
  };
  let value: T;
  try {
    value = await fn(hold);
  } catch (err) {
    await finish().catch(() => undefined);
    throw err;
  }
  await finish();
  return { held: true, value };
}

function keepRenewing(ephemeral: EphemeralStore, clock: Clock, key: string, owner: string): NodeJS.Timeout {
  const renew = setInterval(() => {
    // A failed renewal is tried again at the next tick. A lease lost anyway only lets one
    // concurrent request run; what must happen once (a commit, a code) is atomic in the store.
    ephemeral.renewLease(key, owner, clock() + LEASE_MS).catch(() => undefined);
  }, RENEW_EVERY_MS);
  renew.unref();
  return renew;
}
