/**
 * One request at a time per sign-in interaction or per session's security-info state: every
 * such request loads server-side state, works, and saves it whole. Two at once (a double
 * click, a retried request, a burst of the same code) would each load the same state: the
 * slower one would save its stale copy over the other's progress, and a right code already
 * consumed by the first would count as a failure (toward the lockout). The holder runs; a
 * POST arriving meanwhile gets 409 `busy` and changes nothing; a GET waits a little for it.
 *
 * The lock is a store lease (src/domain/lease.ts; the same on every backend, and across
 * processes): the holder renews it while it works and releases it when done, and a holder that
 * died frees it within LEASE_MS (5 s).
 */
import type { Clock, Store } from '../../src/store/types.ts';
import { withLease, withLeasedRecord, type LeaseHold } from '../../src/domain/lease.ts';
import { Busy } from '../../src/errors.ts';

export async function exclusive<T>(store: Pick<Store, 'ephemeral'>, clock: Clock, key: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
  const run = await withLease(store.ephemeral, clock, key, fn, options);
  if (!run.held) throw new Busy();
  return run.value;
}

/**
 * `exclusive` for state kept in one record of the lock's `{group}` (lease.ts, withLeasedRecord):
 * the lock is taken and the record read in one store step, and the state's last write can go
 * with the release (`hold.putOnRelease`).
 */
export async function exclusiveRecord<T, R>(
  store: Pick<Store, 'ephemeral'>,
  clock: Clock,
  key: string,
  record: string,
  fn: (hold: LeaseHold<R>) => Promise<T>,
  options: { waitMs?: number } = {},
): Promise<T> {
  const run = await withLeasedRecord(store.ephemeral, clock, key, record, fn, options);
  if (!run.held) throw new Busy();
  return run.value;
}
