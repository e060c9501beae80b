/**
 * What email and phone methods share: throttle the send, issue a code under a fresh challenge
 * id (a resend replaces the old code), deliver it, and later check what the user typed.
 */
import type { MessageSender, Channel } from '../messages.ts';
import type { CodeSpec, OneTimeCodes } from '../one-time-codes.ts';
import type { SendThrottle } from '../send-throttle.ts';
import { DeliveryFailed } from '../../errors.ts';
import { randomId } from '../secrets.ts';
import { t } from '../../i18n/index.ts';
import type { FormInput, MethodContext, MethodError, StepResult } from './types.ts';

export interface CodeDeliveryDeps {
  codes: OneTimeCodes;
  throttle: SendThrottle;
  sender: MessageSender;
  productName: string;
  /** Code shape and lifetime per channel family. */
  spec: { email: CodeSpec; phone: CodeSpec };
}

export interface CodePending {
  challengeId: string;
  channel: Channel;
  [k: string]: unknown;
}

const codeKey = (ctx: MethodContext, challengeId: string): string => `{a:${ctx.accountId}}:otc:${challengeId}`;

export function codeText(productName: string, code: string, minutes: number, channel: Channel): { subject: string; text: string } {
  const vars = { product: productName, code, minutes };
  const text =
    channel === 'email'
      ? t('mail.code.email', vars)
      : channel === 'voice'
        ? // Spoken digit by digit.
          t('mail.code.voice', { ...vars, code: code.split('').join(' ') })
        : t('mail.code.sms', vars);
  return { subject: t('mail.code.subject', vars), text };
}

/** Sends a new code; `extra` is kept in the pending state (e.g. the address being registered). */
export async function sendCode(
  deps: CodeDeliveryDeps,
  ctx: MethodContext,
  channel: Channel,
  to: string,
  extra: Record<string, unknown>,
): Promise<StepResult<CodePending>> {
  const decision = await deps.throttle.take(ctx.accountId, channel, to);
  if (!decision.allowed) {
    return { ok: false, error: { id: 'send_throttled', vars: { minutes: Math.ceil(decision.retryAfterSeconds / 60) }, channel } };
  }
  const spec = channel === 'email' ? deps.spec.email : deps.spec.phone;
  const challengeId = randomId(12);
  const code = await deps.codes.issue(codeKey(ctx, challengeId), spec);
  try {
    await deps.sender.send({ channel, to, ...codeText(deps.productName, code, Math.round(spec.ttlMs / 60000), channel) });
  } catch (e) {
    await deps.codes.revoke(codeKey(ctx, challengeId));
    if (e instanceof DeliveryFailed) return { ok: false, error: { id: 'delivery_failed', channel } };
    throw e;
  }
  return { ok: true, value: { challengeId, channel, ...extra } };
}

const CHECK_ERRORS: Record<'wrong' | 'expired' | 'exhausted', MethodError> = {
  wrong: { id: 'code_wrong', field: 'code' },
  expired: { id: 'code_expired', field: 'code', final: true },
  exhausted: { id: 'code_exhausted', field: 'code', final: true },
};

export async function checkCode(deps: CodeDeliveryDeps, ctx: MethodContext, pending: Partial<CodePending>, input: FormInput): Promise<StepResult<true>> {
  const code = input.code?.trim();
  if (typeof pending.challengeId !== 'string') return { ok: false, error: CHECK_ERRORS.expired };
  if (!code) return { ok: false, error: { id: 'code_missing', field: 'code' } };
  const result = await deps.codes.check(codeKey(ctx, pending.challengeId), code);
  return result === 'ok' ? { ok: true, value: true } : { ok: false, error: CHECK_ERRORS[result] };
}
