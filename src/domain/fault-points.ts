/**
 * Test-only fault points: named places inside critical steps where a test can make the
 * process die at once (SIGKILL: no `finally`, no cleanup, no answer), to prove that a crash
 * there leaves nothing half-applied. Armed by `FAULT_POINTS` (a comma-separated list of the
 * names below); production refuses to start with it set. Unarmed, a point costs one Set lookup.
 */

/** Every fault point, in the order a password reset's final step passes them. */
export const FAULT_POINTS = [
  /** The new hash is computed; nothing is written yet. */
  'reset.commit.before',
  /** SQLite only: inside the commit transaction, the flow consumed, the account not yet written. */
  'reset.commit.mid_transaction',
  /** Redis only: the commit script ran on the primary; no replica has confirmed it (before WAIT). */
  'reset.commit.before_wait',
  /** Committed (password and notBefore), the flow not yet marked done, nothing revoked. */
  'reset.commit.after_write',
  /** Old sessions and tokens revoked; nobody notified, no audit event yet. */
  'reset.commit.after_revoke',
  /** Everything done; the answer not yet sent. */
  'reset.commit.before_response',
] as const;

export type FaultPointName = (typeof FAULT_POINTS)[number];

let armed: ReadonlySet<string> = new Set();

/** Arms exactly `names` (an empty list disarms every point). */
export function armFaultPoints(names: readonly FaultPointName[]): void {
  armed = new Set(names);
}

/** Dies here, now, when this point is armed. */
export function faultPoint(name: FaultPointName): void {
  if (!armed.has(name)) return;
  // Synchronous on pipes and files: the line is out before the signal lands.
  process.stderr.write(`rekey: fault point ${name} reached: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
