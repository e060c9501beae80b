/**
 * Temporary access passes: issued by an admin (CLI) for an account's first registration,
 * single use, short-lived (≤ 8 h), stored as a keyed hash, a few attempts at most.
 */
import type { Clock, Store } from '../store/types.ts';
import { generateTemporaryPassword, type Hmac } from './secrets.ts';

const MAX_ATTEMPTS = 5;

interface StoredPass {
  hash: string;
  expiresAt: number;
}

const passKey = (accountId: string): string => `{a:${accountId}}:tap`;
const attemptsKey = (accountId: string): string => `{a:${accountId}}:tap-attempts`;

export class AccessPasses {
  constructor(
    private readonly store: Store,
    private readonly hmac: Hmac,
    private readonly clock: Clock,
  ) {}

  /** A new pass replaces any earlier one. */
  async issue(accountId: string, ttlMs: number): Promise<{ pass: string; expiresAt: number }> {
    const pass = generateTemporaryPassword();
    const expiresAt = this.clock() + ttlMs;
    await this.store.counters.reset(attemptsKey(accountId));
    await this.store.ephemeral.put(passKey(accountId), { hash: this.hmac.digest(`tap:${accountId}`, pass), expiresAt } satisfies StoredPass, expiresAt);
    return { pass, expiresAt };
  }

  async redeem(accountId: string, input: string): Promise<boolean> {
    const stored = await this.store.ephemeral.get<StoredPass>(passKey(accountId));
    if (!stored) return false;
    const attempts = await this.store.counters.hit(attemptsKey(accountId), Math.max(stored.expiresAt - this.clock(), 1000));
    if (attempts.count > MAX_ATTEMPTS) {
      await this.store.ephemeral.delete(passKey(accountId));
      return false;
    }
    const normalized = input.normalize('NFKC').trim().toLowerCase();
    if (!this.hmac.matches(`tap:${accountId}`, normalized, stored.hash)) return false;
    return (await this.store.ephemeral.consume(passKey(accountId))) !== undefined;
  }
}
