/**
 * One request at a time per sign-in interaction or per session's security-info state: every
 * such request loads server-side state, works, and saves it whole. Two at once (a double
 * click, a retried request, a burst of the same code) would each load the same state: the
 * slower one would save its stale copy over the other's progress, and a right code already
 * consumed by the first would count as a failure (toward the lockout). The holder runs; a
 * POST arriving meanwhile gets 409 `busy` and changes nothing; a GET waits a little for it.
 *
 * The lock is an atomic store counter (the same on every backend, and across processes):
 * the first hit holds it, the holder resets it when done, and a holder that died frees it
 * after HOLD_MS.
 */
import type { CounterStore } from '../../src/store/types.ts';
import { Busy } from '../../src/errors.ts';

const HOLD_MS = 30_000;
const POLL_MS = 25;

export async function exclusive<T>(counters: CounterStore, key: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  while ((await counters.hit(key, HOLD_MS)).count > 1) {
    if (Date.now() >= deadline) throw new Busy();
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await counters.reset(key).catch(() => undefined);
  }
}
