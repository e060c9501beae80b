/**
 * Recovery / authentication methods. Each method is one module implementing `Method`
 * (register → prove possession; challenge → verify), listed once in `registry.ts`.
 * Records live in the account (`AccountRecord.methods`); pending steps (a code sent, a TOTP
 * secret shown, questions drawn) live server-side in the flow that runs them, never in a form.
 * Nothing secret is stored in clear: sent codes as keyed hashes, recovery codes and answers as
 * argon2id, TOTP secrets encrypted.
 */
import type { Clock } from '../../store/types.ts';

export const METHOD_KINDS = [
  'email',
  'mobile_phone',
  'office_phone',
  'authenticator_app',
  'security_questions',
  'recovery_codes',
  'security_key',
] as const;
export type MethodKind = (typeof METHOD_KINDS)[number];

interface RecordBase {
  /** Random id, stable while the method is registered. */
  id: string;
  registeredAt: number;
  /** Last time the user confirmed it is still right (re-confirmation) or registered it. */
  confirmedAt: number;
  lastUsedAt?: number;
}

export interface EmailMethod extends RecordBase {
  kind: 'email';
  /** Normalized address. */
  address: string;
}

export interface PhoneMethod extends RecordBase {
  kind: 'mobile_phone' | 'office_phone';
  /** E.164, e.g. +48123456789. */
  e164: string;
  /** Office phones may have an extension the voice call asks for. */
  extension?: string;
  /** ISO 3166-1 alpha-2 of the number. */
  country: string;
}

/** AES-256-GCM sealed secret; `kid` names the key of TOTP_KEYS that sealed it. */
export interface SealedSecret {
  kid: string;
  iv: string;
  ct: string;
  tag: string;
}

export interface AuthenticatorMethod extends RecordBase {
  kind: 'authenticator_app';
  secret: SealedSecret;
  /** Highest TOTP time step accepted so far: each step is usable once. */
  lastStep: number;
}

export interface SecurityQuestionsMethod extends RecordBase {
  kind: 'security_questions';
  /** argon2id of the normalized answer, per question id. */
  answers: { questionId: string; hash: string }[];
}

/**
 * One recovery code: `hash` is argon2id of the normalized code (random salt), `tag` the first
 * bytes of its keyed hash, which picks the slot to verify. Slots written before argon2 have no
 * `tag`, and `hash` is the keyed hash itself. A used code keeps its slot with `usedAt`.
 */
export interface RecoveryCodeSlot {
  hash: string;
  tag?: string;
  usedAt?: number;
}

export interface RecoveryCodesMethod extends RecordBase {
  kind: 'recovery_codes';
  codes: RecoveryCodeSlot[];
}

/** A WebAuthn credential (security key or passkey), bound to ISSUER's host as the relying party id. */
export interface SecurityKeyMethod extends RecordBase {
  kind: 'security_key';
  /** Credential id, base64url. */
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  /** Signature counter last seen: a response must go beyond it (0 = the authenticator keeps none). */
  counter: number;
  transports?: string[];
  /** What the user called it, or the default label. */
  label: string;
}

export type MethodRecord = EmailMethod | PhoneMethod | AuthenticatorMethod | SecurityQuestionsMethod | RecoveryCodesMethod | SecurityKeyMethod;

/** Flat string fields of a submitted form (anything else counts as absent). */
export type FormInput = Readonly<Record<string, string | undefined>>;

/** A message-catalog id, optionally tied to a field; `final` means the step cannot be retried. */
export interface MethodError {
  id: string;
  field?: string;
  vars?: Record<string, string | number>;
  final?: boolean;
  /** The channel of a send that failed or was throttled, for the audit trail. */
  channel?: 'email' | 'sms' | 'voice';
}

export type StepResult<T> = { ok: true; value: T } | { ok: false; error: MethodError };

/** JSON-safe state kept server-side between a method's two steps (never secret in clear). */
export type PendingData = Record<string, unknown>;

/** What a page shows between the steps (masked destination, QR code, codes to write down, questions). */
export interface StepDisplay {
  /** Masked destination a code was sent to. */
  sentTo?: string;
  /** TOTP: otpauth:// URI as an SVG QR code, and the key as text for typing. */
  qrSvg?: string;
  secretText?: string;
  /** Recovery codes, shown once. */
  codes?: string[];
  /** Security questions to answer: id and text. */
  questions?: { id: string; text: string }[];
  /** Security key: WebAuthn options (creation or request, JSON) for navigator.credentials. */
  webauthn?: { mode: 'create' | 'get'; options: Record<string, unknown> };
}

export interface Started {
  pending: PendingData;
  display: StepDisplay;
}

/** What a method needs from the rest of rekey; built per request by the flow running it. */
export interface MethodContext {
  accountId: string;
  login: string;
  /** Admins never get security questions; their proofs must be strong. */
  admin: boolean;
  clock: Clock;
  ip: string;
  /** Why a code is being sent, for the message text and the code key ("register", "signin", "reset"). */
  purpose: string;
}

export interface Method<R extends MethodRecord = MethodRecord> {
  readonly kind: R['kind'];
  /** Strong methods (authenticator, phones, recovery codes) can stand alone; weak ones (email, questions) cannot at reset. */
  readonly strong: boolean;
  /** RFC 8176 `amr` value a successful proof adds. */
  readonly amr: string;
  /** e.g. `a•••@e•••.com`, `+48 ••• ••• •12`. */
  mask(record: R): string;
  /**
   * What a reset shows before any proof, to whoever typed the identifier, when it must say less
   * than `mask` (a security key's user-given name); `mask` otherwise.
   */
  maskBeforeProof?(record: R): string;
  /** The thing a proof reaches (address, number), for "two proofs, two destinations"; undefined for app/questions/codes. */
  destination(record: R): string | undefined;

  startRegistration(ctx: MethodContext, input: FormInput): Promise<StepResult<Started>>;
  finishRegistration(ctx: MethodContext, pending: PendingData, input: FormInput): Promise<StepResult<R>>;

  /** `input` may choose a channel (e.g. `channel=voice` for "call me instead"). */
  startChallenge(ctx: MethodContext, record: R, input?: FormInput): Promise<StepResult<Started>>;
  /** On success may return the updated record (TOTP step, recovery code used). */
  verifyChallenge(ctx: MethodContext, record: R, pending: PendingData, input: FormInput): Promise<StepResult<{ updated?: R }>>;
}
