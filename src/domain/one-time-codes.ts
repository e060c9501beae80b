/**
 * One-time codes: CSPRNG digits, stored only as a keyed hash with an expiry, single use, a
 * limited number of attempts counted before the comparison, compared in constant time.
 * Issuing a new code under the same key kills the old one.
 */
import { randomInt } from 'node:crypto';
import type { Clock, Store } from '../store/types.ts';
import type { Hmac } from './secrets.ts';

export interface CodeSpec {
  digits: number;
  ttlMs: number;
  maxAttempts: number;
}

interface StoredCode {
  hash: string;
  expiresAt: number;
  maxAttempts: number;
}

export type CodeCheck = 'ok' | 'wrong' | 'expired' | 'exhausted';

export class OneTimeCodes {
  constructor(
    private readonly store: Store,
    private readonly hmac: Hmac,
    private readonly clock: Clock,
  ) {}

  /** `key` carries the account's hash tag, e.g. `{a:<id>}:otc:<challenge id>`. */
  async issue(key: string, spec: CodeSpec): Promise<string> {
    let code = '';
    for (let i = 0; i < spec.digits; i += 1) code += String(randomInt(10));
    const expiresAt = this.clock() + spec.ttlMs;
    // Independent writes (both keys carry the caller's tag), sent together.
    await Promise.all([
      this.store.counters.reset(attemptsKey(key)),
      this.store.ephemeral.put(codeKey(key), { hash: this.hmac.digest(`otc:${key}`, code), expiresAt, maxAttempts: spec.maxAttempts } satisfies StoredCode, expiresAt),
    ]);
    return code;
  }

  async check(key: string, input: string): Promise<CodeCheck> {
    const stored = await this.store.ephemeral.get<StoredCode>(codeKey(key));
    if (!stored) return 'expired';
    // Counted before comparing, atomically: concurrent guesses cannot exceed the limit.
    const attempts = await this.store.counters.hit(attemptsKey(key), Math.max(stored.expiresAt - this.clock(), 1000));
    if (attempts.count > stored.maxAttempts) {
      await this.store.ephemeral.delete(codeKey(key));
      return 'exhausted';
    }
    const normalized = input.normalize('NFKC').replace(/[\s-]/g, '');
    if (/^\d{1,12}$/.test(normalized) && this.hmac.matches(`otc:${key}`, normalized, stored.hash)) {
      // Of concurrent right answers exactly one consumes the code.
      return (await this.store.ephemeral.consume(codeKey(key))) ? 'ok' : 'expired';
    }
    if (attempts.count >= stored.maxAttempts) {
      await this.store.ephemeral.delete(codeKey(key));
      return 'exhausted';
    }
    return 'wrong';
  }

  async revoke(key: string): Promise<void> {
    await this.store.ephemeral.delete(codeKey(key));
  }
}

const codeKey = (key: string): string => `otc:${key}`;
const attemptsKey = (key: string): string => `otc-attempts:${key}`;
