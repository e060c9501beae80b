/**
 * The one list of methods: adding a method is one module and one line here. Only the kinds
 * policy enables are built.
 */
import type { PasswordHasher } from '../password-hasher.ts';
import type { SecretBox } from '../secret-box.ts';
import type { Hmac } from '../secrets.ts';
import { authenticatorAppMethod } from './authenticator-app.ts';
import type { CodeDeliveryDeps } from './code-delivery.ts';
import { emailMethod } from './email.ts';
import { phoneMethod } from './phone.ts';
import { customQuestions } from './questions.ts';
import { recoveryCodesMethod } from './recovery-codes.ts';
import { securityKeyMethod } from './security-key.ts';
import { securityQuestionsMethod } from './security-questions.ts';
import { METHOD_KINDS, type Method, type MethodKind } from './types.ts';

export interface MethodRegistryDeps {
  delivery: CodeDeliveryDeps;
  allowedCountries: readonly string[];
  defaultRegion?: string;
  box: SecretBox;
  hmac: Hmac;
  hasher: PasswordHasher;
  productName: string;
  customQuestions: readonly string[];
  questionsToRegister: number;
  questionsToAnswer: number;
  /** TOTP_DRIFT_STEPS: authenticator-app time steps accepted either side of the current one. */
  totpDriftSteps: 0 | 1;
  /** ISSUER: security keys are bound to its host (relying party id) and origin. */
  issuer: string;
}

export type Methods = ReadonlyMap<MethodKind, Method>;

export function buildMethods(deps: MethodRegistryDeps, enabled: readonly MethodKind[]): Methods {
  const phone = { ...deps.delivery, allowedCountries: deps.allowedCountries, ...(deps.defaultRegion ? { defaultRegion: deps.defaultRegion } : {}) };
  const factories: Record<MethodKind, () => Method> = {
    email: () => emailMethod(deps.delivery) as Method,
    mobile_phone: () => phoneMethod('mobile_phone', phone) as Method,
    office_phone: () => phoneMethod('office_phone', phone) as Method,
    authenticator_app: () => authenticatorAppMethod({ box: deps.box, issuer: deps.productName, driftSteps: deps.totpDriftSteps }) as Method,
    security_questions: () =>
      securityQuestionsMethod({
        hasher: deps.hasher,
        questions: customQuestions(deps.customQuestions),
        registerCount: deps.questionsToRegister,
        answerCount: deps.questionsToAnswer,
      }) as Method,
    recovery_codes: () => recoveryCodesMethod({ hmac: deps.hmac, hasher: deps.hasher }) as Method,
    security_key: () => {
      const issuer = new URL(deps.issuer);
      return securityKeyMethod({ rpId: issuer.hostname, origin: issuer.origin, rpName: deps.productName }) as Method;
    },
  };
  // Phones without an allowlisted country could never receive a code: not offered at all.
  const usable = (k: MethodKind): boolean => !((k === 'mobile_phone' || k === 'office_phone') && deps.allowedCountries.length === 0);
  return new Map(METHOD_KINDS.filter((k) => enabled.includes(k) && usable(k)).map((k) => [k, factories[k]()]));
}
