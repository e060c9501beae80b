/**
 * Security key (WebAuthn, ASVS 6.3.7): a hardware authenticator or passkey whose signature is
 * bound to ISSUER's origin, so a phishing site cannot relay it. Registration asks the browser
 * for a credential with attestation `none`; a proof asks it to sign a challenge with that
 * credential. Challenges are made here and kept in the step's pending state (server-side,
 * single use: a failed or finished step drops it); the response names the challenge it
 * signed and must match. The signature counter must go beyond the stored one, or the key
 * was cloned: refused (`security_key_cloned`, audited by the step like any failed proof).
 * Verification is @simplewebauthn/server's.
 */
import type { AuthenticationResponseJSON, AuthenticatorTransport, RegistrationResponseJSON } from '@simplewebauthn/server';
import { t } from '../../i18n/index.ts';
import { randomId } from '../secrets.ts';
import type { FormInput, Method, MethodError, PendingData, SecurityKeyMethod, StepResult } from './types.ts';

/**
 * The WebAuthn library and its ASN.1/COSE dependencies load on first use: security keys are
 * off by default, and a process that never sees one keeps them out of its memory.
 */
let library: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = (): Promise<typeof import('@simplewebauthn/server')> => (library ??= import('@simplewebauthn/server'));

export interface SecurityKeyDeps {
  /** ISSUER's host: the relying party id every credential is bound to. */
  rpId: string;
  /** ISSUER's origin: the only origin a response may come from. */
  origin: string;
  /** Name the browser shows while creating the credential. */
  rpName: string;
}

/** How long the browser waits for the key (a hint; the step's own lifetime decides). */
const TIMEOUT_MS = 5 * 60_000;
const LABEL_MAX = 64;
const TRANSPORTS: readonly string[] = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'];

const missing: MethodError = { id: 'security_key_missing' };
const failed: MethodError = { id: 'security_key_failed', final: true };
const cloned: MethodError = { id: 'security_key_cloned', final: true };
const stateInvalid: MethodError = { id: 'method_state_invalid', final: true };

/** The browser's response as posted (JSON in the `credential` field), or undefined. */
function readResponse<T>(input: FormInput): T | undefined {
  const raw = input.credential?.trim();
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as T) : undefined;
  } catch {
    return undefined;
  }
}

/** The user's name for the key: printable, trimmed, bounded; else the default. */
export function keyLabel(raw: string | undefined): string {
  const label = (raw ?? '').normalize('NFKC').replace(/[\p{C}]/gu, '').trim().slice(0, LABEL_MAX);
  return label || t('security_key.default_label');
}

const challengeOf = (pending: PendingData): string | undefined => (typeof pending.challenge === 'string' && pending.challenge ? pending.challenge : undefined);

export function securityKeyMethod(deps: SecurityKeyDeps): Method<SecurityKeyMethod> {
  const { rpId, origin } = deps;
  const expected = { expectedOrigin: origin, expectedRPID: rpId, requireUserVerification: false };

  return {
    kind: 'security_key',
    strong: true,
    amr: 'hwk',
    mask: (record) => record.label,
    // The name is the user's own words: not for someone who only knows the username (and decoys could not copy it).
    maskBeforeProof: () => t('method.security_key'),
    destination: () => undefined,

    async startRegistration(ctx) {
      const options = await (await webauthn()).generateRegistrationOptions({
        rpName: deps.rpName,
        rpID: rpId,
        userName: ctx.login,
        userID: new TextEncoder().encode(ctx.accountId),
        attestationType: 'none',
        authenticatorSelection: { residentKey: 'discouraged', userVerification: 'preferred' },
        timeout: TIMEOUT_MS,
      });
      return { ok: true, value: { pending: { challenge: options.challenge }, display: { webauthn: { mode: 'create', options: options as unknown as Record<string, unknown> } } } };
    },

    async finishRegistration(ctx, pending, input): Promise<StepResult<SecurityKeyMethod>> {
      const challenge = challengeOf(pending);
      if (!challenge) return { ok: false, error: stateInvalid };
      const response = readResponse<RegistrationResponseJSON>(input);
      if (!response) return { ok: false, error: missing };
      let info;
      try {
        const verified = await (await webauthn()).verifyRegistrationResponse({ response, expectedChallenge: challenge, ...expected });
        if (!verified.verified) return { ok: false, error: failed };
        info = verified.registrationInfo;
      } catch {
        return { ok: false, error: failed };
      }
      const at = ctx.clock();
      const transports = (info.credential.transports ?? []).filter((x) => TRANSPORTS.includes(x));
      return {
        ok: true,
        value: {
          id: randomId(),
          kind: 'security_key',
          registeredAt: at,
          confirmedAt: at,
          credentialId: info.credential.id,
          publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
          counter: info.credential.counter,
          ...(transports.length ? { transports } : {}),
          label: keyLabel(input.label),
        },
      };
    },

    async startChallenge(_ctx, record) {
      const options = await (await webauthn()).generateAuthenticationOptions({
        rpID: rpId,
        allowCredentials: [{ id: record.credentialId, ...(record.transports ? { transports: record.transports } : {}) }],
        userVerification: 'preferred',
        timeout: TIMEOUT_MS,
      });
      return { ok: true, value: { pending: { challenge: options.challenge }, display: { webauthn: { mode: 'get', options: options as unknown as Record<string, unknown> } } } };
    },

    async verifyChallenge(ctx, record, pending, input): Promise<StepResult<{ updated?: SecurityKeyMethod }>> {
      const challenge = challengeOf(pending);
      if (!challenge || !Number.isSafeInteger(record.counter) || record.counter < 0) return { ok: false, error: stateInvalid };
      const response = readResponse<AuthenticationResponseJSON>(input);
      if (!response) return { ok: false, error: missing };
      if (response.id !== record.credentialId) return { ok: false, error: failed };
      try {
        const verified = await (await webauthn()).verifyAuthenticationResponse({
          response,
          expectedChallenge: challenge,
          ...expected,
          credential: {
            id: record.credentialId,
            publicKey: new Uint8Array(Buffer.from(record.publicKey, 'base64url')),
            counter: record.counter,
            ...(record.transports ? { transports: record.transports as AuthenticatorTransport[] } : {}),
          },
        });
        if (!verified.verified) return { ok: false, error: failed };
        return { ok: true, value: { updated: { ...record, counter: verified.authenticationInfo.newCounter, lastUsedAt: ctx.clock() } } };
      } catch (e) {
        // The library refuses a counter at or below the stored one: a cloned key, or a replay.
        return { ok: false, error: e instanceof Error && /counter value/i.test(e.message) ? cloned : failed };
      }
    },
  };
}
