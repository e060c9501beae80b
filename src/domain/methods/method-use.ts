/**
 * Recording that a method was used to prove something, so that what may be used only once is
 * used only once even when several sign-ins or resets submit it at the same moment: a TOTP
 * time step (each step once), a recovery code (each code once) and a security key's signature
 * counter (only upwards). The method verified its
 * proof against the record as read before; the write checks, in the account's optimistic
 * update, that the stored record has not spent the same step or code meanwhile. Of
 * concurrent uses exactly one is written; the others are told the code was used.
 */
import type { Accounts } from '../accounts.ts';
import type { AccountRecord } from '../../store/types.ts';
import { methodsOf } from '../policy.ts';
import type { MethodRecord } from './types.ts';

class AlreadyUsed extends Error {}

/**
 * `stored` with the use that turned `verified` into `updated` applied, or undefined when
 * `stored` already spent it (the same or a later TOTP step, the same recovery code) or the
 * record changed in a way the use no longer fits (a regenerated set of codes).
 */
export function applyUse(stored: MethodRecord, verified: MethodRecord, updated: MethodRecord): MethodRecord | undefined {
  if (stored.kind === 'authenticator_app' && updated.kind === 'authenticator_app') {
    if (stored.lastStep >= updated.lastStep) return undefined;
    return { ...stored, secret: updated.secret, lastStep: updated.lastStep, ...(updated.lastUsedAt !== undefined ? { lastUsedAt: updated.lastUsedAt } : {}) };
  }
  if (stored.kind === 'security_key' && updated.kind === 'security_key') {
    // The signature counter only goes up (0 stays 0 on keys that keep none): a use at or below the stored one is a replay.
    if ((stored.counter > 0 || updated.counter > 0) && updated.counter <= stored.counter) return undefined;
    return { ...stored, counter: updated.counter, ...(updated.lastUsedAt !== undefined ? { lastUsedAt: updated.lastUsedAt } : {}) };
  }
  if (stored.kind === 'recovery_codes' && updated.kind === 'recovery_codes' && verified.kind === 'recovery_codes') {
    if (stored.codes.length !== updated.codes.length || stored.codes.some((c, i) => c.hash !== updated.codes[i]!.hash)) return undefined;
    const spent = updated.codes.flatMap((c, i) => (c.usedAt !== undefined && verified.codes[i]?.usedAt === undefined ? [i] : []));
    if (spent.some((i) => stored.codes[i]!.usedAt !== undefined)) return undefined;
    return {
      ...stored,
      codes: stored.codes.map((c, i) => (spent.includes(i) ? { ...c, usedAt: updated.codes[i]!.usedAt! } : c)),
      ...(updated.lastUsedAt !== undefined ? { lastUsedAt: updated.lastUsedAt } : {}),
    };
  }
  // Nothing single-use (code methods consume their code elsewhere, atomically): the latest fields win.
  return { ...stored, ...updated } as MethodRecord;
}

/**
 * Writes the use of `verified` (now `updated`) to the account. Returns the account as written,
 * or undefined when the step or code was spent meanwhile, or the method is gone: then nothing
 * was written and the proof must be refused.
 */
export async function recordMethodUse(
  accounts: Accounts,
  accountId: string,
  verified: MethodRecord,
  updated: MethodRecord,
  /** The account as the caller just read it (saves reading it again; a stale one costs a retry). */
  current?: AccountRecord,
): Promise<AccountRecord | undefined> {
  try {
    return await accounts.update(accountId, (a) => {
      const list = methodsOf(a);
      const i = list.findIndex((m) => m.id === verified.id);
      const next = i < 0 ? undefined : applyUse(list[i]!, verified, updated);
      if (!next) throw new AlreadyUsed();
      list[i] = next;
      return { ...a, methods: list };
    }, current ? { current } : {});
  } catch (e) {
    if (e instanceof AlreadyUsed) return undefined;
    throw e;
  }
}
