/**
 * Recovery codes: a set of single-use codes shown once, stored only as keyed hashes.
 * Each code is 12 symbols of Crockford's base32 (60 bits from the CSPRNG), shown as
 * `xxxx-xxxx-xxxx`; input is forgiving about case, spaces, dashes and o/0, i/l/1.
 */
import { t } from '../../i18n/index.ts';
import { randomInt } from 'node:crypto';
import type { Clock } from '../../store/types.ts';
import type { Hmac } from '../secrets.ts';
import { randomId } from '../secrets.ts';
import type { FormInput, Method, MethodContext, MethodError, RecoveryCodesMethod, StepResult } from './types.ts';

/** Crockford's base32: no i, l, o, u, so nothing is misread when copied by hand. */
export const RECOVERY_CODE_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const RECOVERY_CODE_LENGTH = 12;
const PURPOSE = 'recovery-code';

export interface RecoveryCodesDeps {
  hmac: Hmac;
  /** Defaults to the request's `ctx.clock`. */
  clock?: Clock;
  /** Codes per set (default 10). */
  count?: number;
}

const stateInvalid: MethodError = { id: 'method_state_invalid', final: true };

export function generateRecoveryCode(): string {
  let s = '';
  for (let i = 0; i < RECOVERY_CODE_LENGTH; i += 1) s += RECOVERY_CODE_ALPHABET[randomInt(RECOVERY_CODE_ALPHABET.length)];
  return s.match(/.{4}/g)!.join('-');
}

/** `ABCD EFGH-ijkl` → `abcdefghijk1`-style canonical form, or undefined when it cannot be a code. */
export function normalizeRecoveryCode(raw: string): string | undefined {
  const s = raw
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\-‐‑‒–—―−_.]+/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  if (s.length !== RECOVERY_CODE_LENGTH) return undefined;
  for (const c of s) if (!RECOVERY_CODE_ALPHABET.includes(c)) return undefined;
  return s;
}

export function remainingCodes(record: RecoveryCodesMethod): number {
  return record.codes.filter((c) => c.usedAt === undefined).length;
}

export function recoveryCodesMethod(deps: RecoveryCodesDeps): Method<RecoveryCodesMethod> {
  const { hmac } = deps;
  const count = deps.count ?? 10;
  if (!Number.isInteger(count) || count < 1) throw new Error('recovery code count must be a positive integer');
  const now = (ctx: MethodContext): number => (deps.clock ?? ctx.clock)();

  function readHashes(pending: Record<string, unknown>): string[] | undefined {
    const { hashes } = pending;
    if (!Array.isArray(hashes) || hashes.length === 0) return undefined;
    return hashes.every((h): h is string => typeof h === 'string') ? hashes : undefined;
  }

  return {
    kind: 'recovery_codes',
    strong: true,
    // RFC 8176 has no value for recovery codes; a recovery code is a one-time password (used
    // once, then dead), so 'otp' is the closest ('swk'/'hwk' name key proofs, 'kba' knowledge).
    amr: 'otp',
    mask: (record) => t('method.recovery_codes.left', { count: remainingCodes(record) }),
    destination: () => undefined,

    async startRegistration() {
      const codes = new Set<string>();
      while (codes.size < count) codes.add(generateRecoveryCode());
      const list = [...codes];
      // Only the hashes stay server-side; the codes go to the page once.
      const hashes = list.map((code) => hmac.digest(PURPOSE, normalizeRecoveryCode(code)!));
      return { ok: true, value: { pending: { hashes }, display: { codes: list } } };
    },

    async finishRegistration(ctx, pending, input: FormInput): Promise<StepResult<RecoveryCodesMethod>> {
      const hashes = readHashes(pending);
      if (!hashes) return { ok: false, error: stateInvalid };
      if (input.saved !== 'yes') return { ok: false, error: { id: 'recovery_codes_confirm', field: 'saved' } };
      const at = now(ctx);
      return {
        ok: true,
        value: { id: randomId(), kind: 'recovery_codes', registeredAt: at, confirmedAt: at, codes: hashes.map((hash) => ({ hash })) },
      };
    },

    async startChallenge() {
      return { ok: true, value: { pending: {}, display: {} } };
    },

    async verifyChallenge(ctx, record, _pending, input): Promise<StepResult<{ updated?: RecoveryCodesMethod }>> {
      const code = normalizeRecoveryCode(input.code ?? '');
      if (code === undefined) return { ok: false, error: { id: 'code_wrong', field: 'code' } };
      // Compare against every slot, used or not, without stopping at a match.
      let found = -1;
      record.codes.forEach((slot, i) => {
        if (hmac.matches(PURPOSE, code, slot.hash)) found = i;
      });
      const slot = record.codes[found];
      if (!slot) return { ok: false, error: { id: 'code_wrong', field: 'code' } };
      if (slot.usedAt !== undefined) return { ok: false, error: { id: 'code_used', field: 'code' } };
      const at = now(ctx);
      const codes = record.codes.map((c, i) => (i === found ? { ...c, usedAt: at } : c));
      return { ok: true, value: { updated: { ...record, codes, lastUsedAt: at } } };
    },
  };
}
