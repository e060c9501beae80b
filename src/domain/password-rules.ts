/**
 * Rules for a new password (NIST 800-63B): length bounds counted in characters after NFKC,
 * never truncated, no composition rules, not a common password, not containing the login or
 * the email's local part, nor a word of the service itself (its product name and host name,
 * see `contextWords`), not in the operator's breach corpus (when configured), not one of the
 * last N passwords.
 */
import { createRequire } from 'node:module';
import { charLength, normalizePassword } from './normalize.ts';
import type { PasswordHasher } from './password-hasher.ts';

export type PasswordProblem =
  | 'password_too_short'
  | 'password_too_long'
  | 'password_common'
  | 'password_contains_identity'
  | 'password_contains_context'
  | 'password_breached'
  | 'password_reused'
  | 'password_mismatch';

let common: Set<string> | undefined;
/**
 * Loaded on the first password check, not at start: the word lists take some 16 MB, and a
 * process that only signs people in never needs them.
 */
function commonPasswords(): Set<string> {
  if (common === undefined) {
    const { dictionary } = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
    common = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  }
  return common;
}

export function commonPasswordCount(): number {
  return commonPasswords().size;
}

/** A set of compromised passwords (src/domain/breached-passwords.ts reads one from disk). */
export interface BreachCorpus {
  isBreached(password: string): Promise<boolean>;
}

export interface PasswordContext {
  login: string;
  emails: string[];
  /** Current and previous hashes the new password may not repeat. */
  history: string[];
}

export class PasswordRules {
  private readonly context: string[];

  constructor(
    private readonly opts: { minLength: number; maxLength: number; contextWords?: readonly string[]; breached?: BreachCorpus },
    private readonly hasher: PasswordHasher,
  ) {
    this.context = (opts.contextWords ?? []).map((w) => w.normalize('NFKC').toLowerCase()).filter((w) => w.length >= 4);
  }

  get minLength(): number {
    return this.opts.minLength;
  }

  get maxLength(): number {
    return this.opts.maxLength;
  }

  /**
   * Cheap checks first; the breach corpus costs some 25 file reads, the history check one
   * argon2 verify per remembered hash.
   */
  async check(raw: string, ctx: PasswordContext): Promise<PasswordProblem | undefined> {
    const pw = normalizePassword(raw);
    const len = charLength(pw);
    if (len < this.opts.minLength) return 'password_too_short';
    if (len > this.opts.maxLength) return 'password_too_long';
    const lower = pw.toLowerCase();
    if (commonPasswords().has(lower) || commonPasswords().has(lower.trim())) return 'password_common';
    const identities = [ctx.login, ...ctx.emails.map((e) => e.split('@')[0] ?? '')].filter((s) => s.length >= 3);
    if (identities.some((id) => lower.includes(id.toLowerCase()))) return 'password_contains_identity';
    if (this.context.some((word) => lower.includes(word))) return 'password_contains_context';
    if (await this.isBreached(raw, pw)) return 'password_breached';
    for (const hash of ctx.history) {
      if (await this.hasher.verify(hash, pw)) return 'password_reused';
    }
    return undefined;
  }

  /**
   * Lists hash what people typed: the password as given, and its NFKC form (the one stored)
   * when that differs.
   */
  async isBreached(raw: string, normalized = normalizePassword(raw)): Promise<boolean> {
    const corpus = this.opts.breached;
    if (!corpus) return false;
    if (await corpus.isBreached(normalized)) return true;
    return normalized !== raw && corpus.isBreached(raw);
  }
}

/**
 * Words of the service itself that make a password easy to guess (ASVS 5.0 6.1.2, 6.2.11): the
 * words of the product name and the labels of the issuer's host name (its top-level domain
 * aside), of 4 letters or more. "Acme Identity" at https://login.acme-corp.example gives
 * acme, identity, login, corp.
 */
export function contextWords(productName: string, issuer: string): string[] {
  const host = new URL(issuer).hostname;
  const labels = /^[\d.:[\]]+$/.test(host) ? [] : host.split('.').slice(0, -1);
  const words = [productName, ...labels].flatMap((s) => s.normalize('NFKC').toLowerCase().split(/[^\p{L}]+/u));
  return [...new Set(words.filter((w) => w.length >= 4))];
}
