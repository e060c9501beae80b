/**
 * Decoys for self-service reset: an identifier that matches no usable account (unknown,
 * disabled, out of scope, nothing registered) gets a stable, plausible list of masked
 * methods derived with a keyed hash of the identifier, so it looks and behaves like a real
 * account: same pages, same counts, codes "sent" nowhere that never verify.
 */
import { t } from '../../i18n/index.ts';
import type { Hmac } from '../secrets.ts';
import type { MethodKind } from '../methods/types.ts';

export interface DecoyMethod {
  kind: MethodKind;
  masked: string;
  strong: boolean;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const DOMAINS = ['.com', '.net', '.org', '.de', '.pl'];

/** The decoy's stable pseudo account id: same shape as real ids (16 base64url characters). */
export function decoySubject(hmac: Hmac, identifier: string): string {
  return hmac.digest('reset-decoy-subject', identifier).slice(0, 16);
}

export function decoyMethods(hmac: Hmac, identifier: string, enabled: readonly MethodKind[], callingCodes: readonly string[]): DecoyMethod[] {
  const bytes = Buffer.from(hmac.digest('reset-decoy-methods', identifier), 'base64url');
  const pick = (i: number, n: number): number => bytes[i % bytes.length]! % n;
  const letter = (i: number): string => LETTERS[pick(i, LETTERS.length)]!;
  const out: DecoyMethod[] = [];
  if (enabled.includes('email')) {
    out.push({ kind: 'email', masked: `${letter(0)}•••@${letter(1)}•••${DOMAINS[pick(2, DOMAINS.length)]}`, strong: false });
  }
  if (enabled.includes('mobile_phone') && callingCodes.length > 0 && pick(3, 3) !== 0) {
    const cc = callingCodes[pick(4, callingCodes.length)]!;
    out.push({ kind: 'mobile_phone', masked: `+${cc} ••• ••• •${pick(5, 10)}${pick(6, 10)}`, strong: true });
  }
  if (enabled.includes('authenticator_app') && (pick(7, 2) === 0 || out.length < 2)) {
    out.push({ kind: 'authenticator_app', masked: t('method.authenticator_app'), strong: true });
  }
  // A real security key shows the same words before any proof (maskBeforeProof).
  if (enabled.includes('security_key') && pick(9, 3) === 0) out.push({ kind: 'security_key', masked: t('method.security_key'), strong: true });
  // Masks read exactly like real ones (see each method's mask()).
  if (out.length === 0 && enabled.includes('recovery_codes')) out.push({ kind: 'recovery_codes', masked: t('method.recovery_codes.left', { count: 6 + pick(8, 5) }), strong: true });
  return out;
}
