/**
 * Authenticator app (TOTP, RFC 6238): SHA1, 6 digits, 30 s, 160-bit secret. By default only
 * the current time step is accepted, so a code lives at most 30 s (ASVS 6.5.5);
 * `driftSteps: 1` (TOTP_DRIFT_STEPS) also accepts the previous and the next step.
 * The secret is sealed with the SecretBox even while pending, and each time step is usable
 * once (`lastStep`), so a code seen over a shoulder cannot be replayed within its window.
 */
import { t } from '../../i18n/index.ts';
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { Clock } from '../../store/types.ts';
import { isSealed, type SecretBox } from '../secret-box.ts';
import { randomId } from '../secrets.ts';
import type { AuthenticatorMethod, FormInput, Method, MethodContext, MethodError, StepResult } from './types.ts';

export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;
const SECRET_BYTES = 20;

export interface AuthenticatorAppDeps {
  box: SecretBox;
  /** Product name shown by the app (otpauth label prefix and `issuer` parameter). */
  issuer: string;
  /** Defaults to the request's `ctx.clock`. */
  clock?: Clock;
  /** Time steps accepted on either side of the current one: 0 (default) or 1. */
  driftSteps?: 0 | 1;
}

const codeWrong: MethodError = { id: 'code_wrong', field: 'code' };
const stateInvalid: MethodError = { id: 'method_state_invalid', final: true };

/** Digits only, after NFKC (full-width digits) and without spaces ("123 456"). */
function readCode(input: FormInput): string | undefined {
  const code = (input.code ?? '').normalize('NFKC').replace(/\s+/g, '');
  return new RegExp(`^\\d{${TOTP_DIGITS}}$`).test(code) ? code : undefined;
}

/** `JBSWY3DPEHPK3PXP…` → `JBSW Y3DP EHPK 3PXP …` for typing by hand. */
export function groupSecret(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? secret;
}

/** The otpauth:// key URI: label `issuer:login`, plus the `issuer` parameter. */
export function otpauthUri(issuer: string, login: string, secret: string): string {
  // The key URI format forbids a colon in the issuer (it separates issuer and account).
  const name = issuer.replace(/:/g, '').trim() || 'rekey';
  return generateURI({ issuer: name, label: login, secret, algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD });
}

export function authenticatorAppMethod(deps: AuthenticatorAppDeps): Method<AuthenticatorMethod> {
  const { box, issuer } = deps;
  const driftSteps = deps.driftSteps ?? 0;
  if (driftSteps !== 0 && driftSteps !== 1) throw new Error('TOTP drift steps must be 0 or 1');
  /** The accepted window as otplib's tolerance in seconds either side of now: 0, or ±1 step. */
  const tolerance = driftSteps * TOTP_PERIOD;
  const now = (ctx: MethodContext): number => (deps.clock ?? ctx.clock)();
  const epochOf = (ctx: MethodContext): number => Math.floor(now(ctx) / 1000);

  /** The matched time step, or undefined; steps ≤ `after` are skipped (already used). */
  async function match(secret: string, code: string, epoch: number, after?: number): Promise<number | undefined> {
    const maxStep = Math.floor((epoch + tolerance) / TOTP_PERIOD);
    // otplib throws when afterTimeStep lies beyond the window: then every step in it is used.
    if (after !== undefined && after >= maxStep) return undefined;
    const result = await verify({
      secret,
      token: code,
      epoch,
      epochTolerance: tolerance,
      period: TOTP_PERIOD,
      digits: TOTP_DIGITS,
      algorithm: 'sha1',
      ...(after !== undefined ? { afterTimeStep: after } : {}),
    });
    // otplib's functional verify types TOTP and HOTP results together; only TOTP has timeStep.
    return result.valid && 'timeStep' in result ? result.timeStep : undefined;
  }

  function openOrUndefined(sealed: unknown): string | undefined {
    if (!isSealed(sealed)) return undefined;
    try {
      return box.open(sealed);
    } catch {
      return undefined;
    }
  }

  return {
    kind: 'authenticator_app',
    strong: true,
    amr: 'otp',
    mask: () => t('method.authenticator_app'),
    destination: () => undefined,

    async startRegistration(ctx) {
      const secret = generateSecret({ length: SECRET_BYTES });
      const qrSvg = await QRCode.toString(otpauthUri(issuer, ctx.login, secret), { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      return { ok: true, value: { pending: { secret: box.seal(secret) }, display: { qrSvg, secretText: groupSecret(secret) } } };
    },

    async finishRegistration(ctx, pending, input): Promise<StepResult<AuthenticatorMethod>> {
      const pendingSecret = pending.secret;
      if (!isSealed(pendingSecret)) return { ok: false, error: stateInvalid };
      const secret = openOrUndefined(pendingSecret);
      if (secret === undefined) return { ok: false, error: stateInvalid };
      const code = readCode(input);
      if (code === undefined) return { ok: false, error: codeWrong };
      const step = await match(secret, code, epochOf(ctx));
      if (step === undefined) return { ok: false, error: codeWrong };
      const at = now(ctx);
      const sealed = box.needsResealing(pendingSecret) ? box.seal(secret) : pendingSecret;
      return {
        ok: true,
        value: { id: randomId(), kind: 'authenticator_app', registeredAt: at, confirmedAt: at, secret: sealed, lastStep: step },
      };
    },

    async startChallenge() {
      return { ok: true, value: { pending: {}, display: {} } };
    },

    async verifyChallenge(ctx, record, _pending, input): Promise<StepResult<{ updated?: AuthenticatorMethod }>> {
      const secret = openOrUndefined(record.secret);
      // Fail closed on a record whose used-step marker is missing or corrupt.
      if (secret === undefined || !Number.isSafeInteger(record.lastStep) || record.lastStep < 0) return { ok: false, error: stateInvalid };
      const code = readCode(input);
      if (code === undefined) return { ok: false, error: codeWrong };
      const epoch = epochOf(ctx);
      const step = await match(secret, code, epoch, record.lastStep);
      if (step === undefined) {
        // Valid but for a step already used: a replay (or a second sign-in within 30 s).
        const used = (await match(secret, code, epoch)) !== undefined;
        return { ok: false, error: used ? { id: 'code_used', field: 'code' } : codeWrong };
      }
      const updated: AuthenticatorMethod = { ...record, lastStep: step, lastUsedAt: now(ctx) };
      if (box.needsResealing(record.secret)) updated.secret = box.seal(secret);
      return { ok: true, value: { updated } };
    },
  };
}
