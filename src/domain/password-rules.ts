/**
 * Rules for a new password (NIST 800-63B): length bounds counted in characters after NFKC,
 * never truncated, no composition rules, not a common password, not containing the login or
 * the email's local part, not one of the last N passwords.
 */
import { dictionary } from '@zxcvbn-ts/language-common';
import { charLength, normalizePassword } from './normalize.ts';
import type { PasswordHasher } from './password-hasher.ts';

export type PasswordProblem =
  | 'password_too_short'
  | 'password_too_long'
  | 'password_common'
  | 'password_contains_identity'
  | 'password_reused'
  | 'password_mismatch';

let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

export function commonPasswordCount(): number {
  return commonPasswords().size;
}

export interface PasswordContext {
  login: string;
  emails: string[];
  /** Current and previous hashes the new password may not repeat. */
  history: string[];
}

export class PasswordRules {
  constructor(
    private readonly opts: { minLength: number; maxLength: number },
    private readonly hasher: PasswordHasher,
  ) {}

  get minLength(): number {
    return this.opts.minLength;
  }

  get maxLength(): number {
    return this.opts.maxLength;
  }

  /** Cheap checks first; the history check costs one argon2 verify per remembered hash. */
  async check(raw: string, ctx: PasswordContext): Promise<PasswordProblem | undefined> {
    const pw = normalizePassword(raw);
    const len = charLength(pw);
    if (len < this.opts.minLength) return 'password_too_short';
    if (len > this.opts.maxLength) return 'password_too_long';
    const lower = pw.toLowerCase();
    if (commonPasswords().has(lower) || commonPasswords().has(lower.trim())) return 'password_common';
    const identities = [ctx.login, ...ctx.emails.map((e) => e.split('@')[0] ?? '')].filter((s) => s.length >= 3);
    if (identities.some((id) => lower.includes(id.toLowerCase()))) return 'password_contains_identity';
    for (const hash of ctx.history) {
      if (await this.hasher.verify(hash, pw)) return 'password_reused';
    }
    return undefined;
  }
}
