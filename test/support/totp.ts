/**
 * Authenticator-app codes for tests that run against the real clock (a server or browser on
 * `Date.now`). rekey accepts only the current 30-second step by default (TOTP_DRIFT_STEPS=0),
 * so a code made in the last moments of a step can be dead by the time the server checks it.
 * `totpNow` waits until the step has at least `minLeftMs` left before it makes the code: one
 * helper for every suite. Where the app runs on an injected clock, pass that time instead
 * (`generate({ secret, epoch })`) and nothing waits.
 */
import { generate } from 'otplib';

export const TOTP_STEP_MS = 30_000;
/** Time a code must still have when it is made: enough for a few requests, or a browser's typing. */
export const TOTP_MIN_LEFT_MS = 4_000;

/** How long to wait, at `at`, until a step with at least `minLeftMs` left has begun. */
export function waitForFreshStep(at: number, minLeftMs = TOTP_MIN_LEFT_MS): number {
  const left = TOTP_STEP_MS - (at % TOTP_STEP_MS);
  // Into the next step, with a small margin for a server clock read a moment earlier.
  return left >= minLeftMs ? 0 : left + 50;
}

/** The current step's code, made when the step has at least `minLeftMs` left (waits up to ~4 s). */
export async function totpNow(secret: string, minLeftMs = TOTP_MIN_LEFT_MS): Promise<string> {
  const wait = waitForFreshStep(Date.now(), minLeftMs);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) });
}

