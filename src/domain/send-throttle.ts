/**
 * Throttles sending (emails, SMS, voice calls) per account and per destination, separately
 * from verifying. Going over a window's limit blocks that account or destination for a while.
 */
import type { Clock, Store } from '../store/types.ts';
import type { Hmac } from './secrets.ts';
import type { Channel } from './messages.ts';

export interface SendLimit {
  perWindow: number;
  windowSeconds: number;
  blockSeconds: number;
}

export type SendDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class SendThrottle {
  constructor(
    private readonly store: Store,
    private readonly hmac: Hmac,
    private readonly clock: Clock,
    private readonly limits: Record<'email' | 'phone', SendLimit>,
  ) {}

  /** Counts one send to `destination` for `accountId`; refuses when either is over its limit. */
  async take(accountId: string, channel: Channel, destination: string): Promise<SendDecision> {
    const family = channel === 'email' ? 'email' : 'phone';
    const limit = this.limits[family];
    const subjects = [`{a:${accountId}}:sends:${family}`, `{d:${this.hmac.digest('destination', destination)}}:sends`];
    // Both blocks read together; the account's answers first, as when read one after the other.
    const blocks = await Promise.all(subjects.map((s) => this.store.ephemeral.get<{ until: number }>(`${s}:block`)));
    for (const block of blocks) {
      if (block && block.until > this.clock()) return { allowed: false, retryAfterSeconds: Math.ceil((block.until - this.clock()) / 1000) };
    }
    const counts = await Promise.all(subjects.map((s) => this.store.counters.hit(s, limit.windowSeconds * 1000)));
    const over = counts.some((c) => c.count > limit.perWindow);
    if (!over) return { allowed: true };
    const until = this.clock() + limit.blockSeconds * 1000;
    await Promise.all(subjects.map((s, i) => (counts[i]!.count > limit.perWindow ? this.store.ephemeral.put(`${s}:block`, { until }, until) : undefined)));
    return { allowed: false, retryAfterSeconds: limit.blockSeconds };
  }
}
