/**
 * Turns audit events (the contract is docs/audit-events.md) into counter increments. Every
 * label value passes through a bounded list; anything else is counted as `other`, so no
 * account id, IP or free text ever becomes a series.
 */
import type { AuditEvent, AuditListener } from '../domain/audit.ts';
import { METHOD_KINDS } from '../domain/methods/types.ts';
import { ACR_MFA, ACR_PWD } from '../provider/acr.ts';
import type { Metrics } from './metrics.ts';

const OUTCOMES = ['success', 'failure', 'blocked'] as const;
const SIGNIN_REASONS = ['wrong_credentials', 'temporary_expired', 'disabled', 'locked', 'locked_hard', 'ip_throttled'] as const;
const PROOF_REASONS = ['code_wrong', 'code_expired', 'code_used', 'code_missing', 'code_exhausted', 'answers_wrong', 'method_state_invalid'] as const;
const CHANNELS = ['email', 'sms', 'voice'] as const;
const PURPOSES = ['bootstrap', 'register', 'reset', 'second_factor', 'security_info'] as const;
const LOCKOUT_KINDS = ['soft', 'hard'] as const;
const ACRS: Record<string, string> = { [ACR_PWD]: 'pwd', [ACR_MFA]: 'mfa' };

/** `value` when it is one of `allowed`; `none` when absent; `other` otherwise. */
function bounded(value: unknown, allowed: readonly string[]): string {
  if (value === undefined || value === '') return 'none';
  return typeof value === 'string' && allowed.includes(value) ? value : 'other';
}

const method = (e: AuditEvent): string => bounded(e.details?.kind, METHOD_KINDS);
const outcome = (e: AuditEvent): string => bounded(e.outcome, OUTCOMES);

/** The channel a code went by; an email method's codes can only go by email. */
function channel(e: AuditEvent): string {
  const c = e.details?.channel ?? (e.details?.kind === 'email' ? 'email' : undefined);
  return bounded(c, CHANNELS);
}

export function auditFeed(m: Metrics): AuditListener {
  return (e) => {
    switch (e.type) {
      case 'signin.password':
        m.signins.inc({ outcome: outcome(e), reason: e.outcome === 'success' ? 'none' : bounded(e.reason, SIGNIN_REASONS) });
        if (e.outcome === 'blocked' && e.reason === 'ip_throttled') m.throttles.inc({ kind: 'signin_ip' });
        return;
      case 'signin.completed':
        m.signinsCompleted.inc({ acr: ACRS[String(e.details?.acr)] ?? 'other' });
        return;
      case 'lockout.started':
        m.lockouts.inc({ kind: bounded(e.reason ?? e.details?.kind, LOCKOUT_KINDS) });
        return;
      case 'second_factor.succeeded':
      case 'second_factor.failed':
        m.secondFactor.inc({ method: method(e), outcome: outcome(e) });
        return;
      case 'method.registered':
      case 'method.registration_failed':
        m.registrations.inc({ method: method(e), outcome: outcome(e) });
        return;
      case 'reset.started':
        // A start refused by the per-network limit is a throttle; one refused because the
        // account is blocked from resetting is counted by reset.blocked already.
        if (e.outcome === 'blocked') {
          if (e.reason === 'reset_too_many_starts') m.throttles.inc({ kind: 'reset_start' });
        } else m.resetsStarted.inc({ decoy: e.reason === 'no_usable_account' ? 'true' : 'false' });
        return;
      case 'reset.proof_succeeded':
      case 'reset.proof_failed':
        m.resetProofs.inc({ method: method(e), outcome: outcome(e), reason: e.outcome === 'success' ? 'none' : bounded(e.reason, PROOF_REASONS) });
        return;
      case 'reset.blocked':
        m.resetsBlocked.inc();
        return;
      case 'reset.completed':
        m.resetsCompleted.inc();
        return;
      case 'code.sent':
        // A decoy flow (unknown identifier) sends nothing.
        if (e.reason !== 'decoy') m.codesSent.inc({ channel: channel(e), purpose: bounded(e.details?.purpose, PURPOSES) });
        return;
      case 'code.delivery_failed':
        m.codeDeliveryFailures.inc({ channel: channel(e) });
        return;
      case 'code.throttled':
        m.throttles.inc({ kind: 'code_send' });
        return;
    }
  };
}
