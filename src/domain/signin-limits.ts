/**
 * Sign-in lockout and throttling. Subjects are accounts (`a:<id>`) or, for identifiers that
 * match no account, a keyed hash of the identifier (`u:<hmac>`), so "locked" appears at the
 * same count whether or not the account exists. Lockout doubles with every threshold reached,
 * up to a cap; after the hard limit of consecutive failures only an admin unlock (or a
 * password reset) opens the account again.
 */
import type { Clock, Store } from '../store/types.ts';

const FOREVER_MS = 10 * 365 * 24 * 3600 * 1000;

export interface LockoutPolicy {
  threshold: number;
  baseSeconds: number;
  maxSeconds: number;
  hardLimit: number;
  ipMaxFailures: number;
  ipWindowSeconds: number;
}

export type LockState =
  | { locked: false }
  | { locked: true; hard: boolean; retryAfterSeconds?: number };

export class SigninLimits {
  constructor(
    private readonly store: Store,
    private readonly policy: LockoutPolicy,
    private readonly clock: Clock,
  ) {}

  async lockState(subject: string): Promise<LockState> {
    const until = await this.store.ephemeral.get<{ until: number; hard: boolean }>(lockKey(subject));
    if (!until) return { locked: false };
    if (until.hard) return { locked: true, hard: true };
    const left = until.until - this.clock();
    if (left <= 0) return { locked: false };
    return { locked: true, hard: false, retryAfterSeconds: Math.ceil(left / 1000) };
  }

  async ipThrottled(ip: string): Promise<number | undefined> {
    const c = await this.store.counters.get(ipKey(ip));
    if (!c || c.count < this.policy.ipMaxFailures) return undefined;
    return Math.ceil((c.resetAt - this.clock()) / 1000);
  }

  /** Records one failure; returns the lock it caused, if any. */
  async recordFailure(subject: string, ip: string): Promise<LockState> {
    const [fails] = await Promise.all([
      this.store.counters.hit(failKey(subject), FOREVER_MS),
      this.store.counters.hit(ipKey(ip), this.policy.ipWindowSeconds * 1000),
    ]);
    const p = this.policy;
    if (fails.count >= p.hardLimit) {
      await this.store.ephemeral.put(lockKey(subject), { until: Number.MAX_SAFE_INTEGER, hard: true }, this.clock() + FOREVER_MS);
      return { locked: true, hard: true };
    }
    if (fails.count % p.threshold !== 0) return { locked: false };
    const step = fails.count / p.threshold - 1;
    const seconds = Math.min(p.baseSeconds * 2 ** step, p.maxSeconds);
    const until = this.clock() + seconds * 1000;
    await this.store.ephemeral.put(lockKey(subject), { until, hard: false }, until);
    return { locked: true, hard: false, retryAfterSeconds: seconds };
  }

  /** A successful sign-in, an admin unlock or a password reset clears the subject's failures. */
  async clear(subject: string): Promise<void> {
    await Promise.all([this.store.counters.reset(failKey(subject)), this.store.ephemeral.delete(lockKey(subject))]);
  }

  async failures(subject: string): Promise<number> {
    return (await this.store.counters.get(failKey(subject)))?.count ?? 0;
  }
}

export const accountSubject = (accountId: string): string => `a:${accountId}`;

const failKey = (subject: string): string => `signin-fails:{${subject}}`;
const lockKey = (subject: string): string => `signin-lock:{${subject}}`;
const ipKey = (ip: string): string => `signin-ip:{${ip}}`;
