/**
 * argon2id hashing. Unknown users are "verified" against a dummy hash with the same
 * parameters, so a sign-in costs the same time whether or not the account exists.
 */
import argon2 from 'argon2';
import { normalizePassword } from './normalize.ts';

export interface HashParams {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export class PasswordHasher {
  private dummy: Promise<string>;

  constructor(private readonly params: HashParams) {
    this.dummy = this.hash('dummy password that no account has');
  }

  hash(password: string): Promise<string> {
    return argon2.hash(normalizePassword(password), { type: argon2.argon2id, ...this.params });
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, normalizePassword(password));
    } catch {
      // A corrupt stored hash must fail closed, not crash the sign-in.
      return false;
    }
  }

  /** Spends one verify's worth of CPU and always fails. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(await this.dummy, password);
    return false;
  }

  /** True when a stored hash uses weaker parameters than configured (rehash on next sign-in). */
  needsRehash(hash: string): boolean {
    return argon2.needsRehash(hash, { ...this.params });
  }
}
