/**
 * The audit event of a method step that may send a code (registration, second factor, reset,
 * My security info, bootstrap): `code.sent`, `code.throttled` or `code.delivery_failed`, always
 * with the purpose, the method kind and the channel. Steps that send nothing (authenticator
 * app, recovery codes, questions) and other errors record none.
 */
import type { AuditEvent } from '../audit.ts';
import type { MethodError, MethodKind, PendingData, StepDisplay } from './types.ts';

export type CodePurpose = 'bootstrap' | 'register' | 'reset' | 'second_factor' | 'security_info';

type StepOutcome = { ok: true; value: { pending: PendingData; display: StepDisplay } } | { ok: false; error: MethodError };

export function codeEvent(purpose: CodePurpose, kind: MethodKind | undefined, step: StepOutcome): AuditEvent | undefined {
  const about = { purpose, ...(kind ? { kind } : {}) };
  if (step.ok) {
    const { channel } = step.value.pending;
    if (typeof channel !== 'string') return undefined;
    return { type: 'code.sent', outcome: 'success', details: { ...about, channel, ...(step.value.display.sentTo ? { to: step.value.display.sentTo } : {}) } };
  }
  const { id, channel } = step.error;
  const details = { ...about, ...(channel ? { channel } : {}) };
  if (id === 'send_throttled') return { type: 'code.throttled', outcome: 'blocked', reason: id, details };
  if (id === 'delivery_failed') return { type: 'code.delivery_failed', outcome: 'failure', reason: id, details };
  return undefined;
}
