/**
 * Recovery codes: a set of single-use codes shown once. Each code is 12 symbols of Crockford's
 * base32 (60 bits from the CSPRNG), shown as `xxxx-xxxx-xxxx`; input is forgiving about case,
 * spaces, dashes and o/0, i/l/1.
 *
 * Storage (ASVS 6.5.2: a look-up secret under 112 bits is stored with a salted password hash):
 * each code as argon2id with its own random salt (the password hasher and parameters), plus a
 * short lookup tag, the first TAG_BYTES bytes of the code's keyed hash (HMAC_KEYS). A check
 * argon2-verifies only the slots whose tag matches (normally one), never all ten, so a guess
 * costs one verify and not ten; when no tag matches it verifies against a dummy hash, so wrong
 * and right codes take about the same time. The tag alone tells nothing without the HMAC key;
 * with the key it narrows a code from 60 bits to 44 before argon2.
 *
 * Slots written before (no `tag`) hold the keyed hash of the code itself: they still verify,
 * until the user regenerates the set.
 */
import { t } from '../../i18n/index.ts';
import { randomInt } from 'node:crypto';
import type { Clock } from '../../store/types.ts';
import type { Hmac } from '../secrets.ts';
import { randomId } from '../secrets.ts';
import type { FormInput, Method, MethodContext, MethodError, RecoveryCodeSlot, RecoveryCodesMethod, StepResult } from './types.ts';

/** Crockford's base32: no i, l, o, u, so nothing is misread when copied by hand. */
export const RECOVERY_CODE_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const RECOVERY_CODE_LENGTH = 12;
const PURPOSE = 'recovery-code';
/** Bytes of the keyed hash kept as the lookup tag (16 bits: a wrong code matches a slot of ten 1 time in 6,500). */
export const TAG_BYTES = 2;

/** argon2id with a random salt, and a dummy verify of the same cost: PasswordHasher. */
export interface RecoveryCodeHasher {
  hash(code: string): Promise<string>;
  verify(hash: string, code: string): Promise<boolean>;
  verifyDummy(code: string): Promise<false>;
}

export interface RecoveryCodesDeps {
  hmac: Hmac;
  hasher: RecoveryCodeHasher;
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

/** The lookup tag of a normalized code under one keyed hash (a digest of `Hmac`). */
function tagOf(digest: string): string {
  return Buffer.from(digest, 'base64url').subarray(0, TAG_BYTES).toString('hex');
}

/** Slots of a pending registration: `{ hash, tag }` pairs (or, from before, bare keyed hashes). */
function readSlots(pending: Record<string, unknown>): RecoveryCodeSlot[] | undefined {
  const { slots, hashes } = pending;
  if (Array.isArray(slots) && slots.length > 0) {
    const ok = slots.every((x): x is RecoveryCodeSlot => typeof x === 'object' && x !== null && typeof x.hash === 'string' && typeof x.tag === 'string');
    return ok ? slots.map((x) => ({ hash: x.hash, tag: x.tag })) : undefined;
  }
  if (Array.isArray(hashes) && hashes.length > 0 && hashes.every((h): h is string => typeof h === 'string')) return hashes.map((hash) => ({ hash }));
  return undefined;
}

export function recoveryCodesMethod(deps: RecoveryCodesDeps): Method<RecoveryCodesMethod> {
  const { hmac, hasher } = deps;
  const count = deps.count ?? 10;
  if (!Number.isInteger(count) || count < 1) throw new Error('recovery code count must be a positive integer');
  const now = (ctx: MethodContext): number => (deps.clock ?? ctx.clock)();

  /** A fresh slot: argon2id of the normalized code, and its tag under the writing key. */
  async function slotOf(code: string): Promise<RecoveryCodeSlot> {
    const normalized = normalizeRecoveryCode(code)!;
    // argon2 runs in libuv's thread pool: the set's hashes run side by side (Promise.all).
    return { hash: await hasher.hash(normalized), tag: tagOf(hmac.digest(PURPOSE, normalized)) };
  }

  /**
   * The index of the slot holding `code`, or -1. Spends one argon2 verify per slot whose tag
   * matches (normally one), and one on a dummy hash when none did.
   */
  async function find(record: RecoveryCodesMethod, code: string): Promise<number> {
    // Tags under every HMAC key, so a set written before a key rotation is still found.
    const tags = new Set(hmac.digestsUnderEveryKey(PURPOSE, code).map(tagOf));
    let found = -1;
    const candidates: number[] = [];
    record.codes.forEach((slot, i) => {
      if (slot.tag === undefined) {
        // A slot from before: the keyed hash of the code (cheap, compared in constant time).
        if (hmac.matches(PURPOSE, code, slot.hash)) found = i;
      } else if (tags.has(slot.tag)) candidates.push(i);
    });
    if (candidates.length === 0) {
      await hasher.verifyDummy(code);
      return found;
    }
    const verified = await Promise.all(candidates.map((i) => hasher.verify(record.codes[i]!.hash, code)));
    verified.forEach((ok, k) => {
      if (ok) found = candidates[k]!;
    });
    return found;
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
      const slots = await Promise.all(list.map(slotOf));
      return { ok: true, value: { pending: { slots }, display: { codes: list } } };
    },

    async finishRegistration(ctx, pending, input: FormInput): Promise<StepResult<RecoveryCodesMethod>> {
      const slots = readSlots(pending);
      if (!slots) return { ok: false, error: stateInvalid };
      if (input.saved !== 'yes') return { ok: false, error: { id: 'recovery_codes_confirm', field: 'saved' } };
      const at = now(ctx);
      return {
        ok: true,
        value: { id: randomId(), kind: 'recovery_codes', registeredAt: at, confirmedAt: at, codes: slots },
      };
    },

    async startChallenge() {
      return { ok: true, value: { pending: {}, display: {} } };
    },

    async verifyChallenge(ctx, record, _pending, input): Promise<StepResult<{ updated?: RecoveryCodesMethod }>> {
      const code = normalizeRecoveryCode(input.code ?? '');
      if (code === undefined) return { ok: false, error: { id: 'code_wrong', field: 'code' } };
      // Used slots are looked at too: a used code is told apart from a wrong one.
      const found = await find(record, code);
      const slot = record.codes[found];
      if (!slot) return { ok: false, error: { id: 'code_wrong', field: 'code' } };
      if (slot.usedAt !== undefined) return { ok: false, error: { id: 'code_used', field: 'code' } };
      const at = now(ctx);
      const codes = record.codes.map((c, i) => (i === found ? { ...c, usedAt: at } : c));
      return { ok: true, value: { updated: { ...record, codes, lastUsedAt: at } } };
    },
  };
}
