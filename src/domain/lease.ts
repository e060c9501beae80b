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
  const renew = setInterval(() => {
    // A failed renewal is tried again at the next tick. A lease lost anyway only lets one
    // concurrent request run; what must happen once (a commit, a code) is atomic in the store.
    ephemeral.renewLease(key, owner, clock() + LEASE_MS).catch(() => undefined);
  }, RENEW_EVERY_MS);
  renew.unref();
  try {
    return { held: true, value: await fn() };
  } finally {
    clearInterval(renew);
    await ephemeral.releaseLease(key, owner).catch(() => undefined);
  }
}
