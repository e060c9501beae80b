/**
 * Stage 1: login name or email + password. Every failure shows one generic message; the
 * audit trail records why (`signin.password`), and when a failure locks the account
 * (`lockout.started`).
 */
import { lockoutEvent, type Accounts, type SigninResult, type SigninTarget } from '../../src/domain/accounts.ts';
import type { Audit, AuditEvent } from '../../src/domain/audit.ts';
import type { Logger } from '../../src/log.ts';
import type { SigninNotices } from '../../src/domain/signin-notices.ts';
import { field } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { signinPage } from '../views/pages/signin.ts';
import type { Branding } from '../views/layout.ts';
import type { Stage, StageRequest, StageResult } from './stage.ts';

/** The `signin.password` event of an attempt: the account, or a keyed hash of an unknown identifier (never the identifier). */
function signinEvent(result: SigninResult, client: string, breached: boolean): AuditEvent {
  const type = 'signin.password';
  const about = (t: SigninTarget): Pick<AuditEvent, 'accountId' | 'details'> =>
    t.accountId ? { accountId: t.accountId, details: { client } } : { details: { client, ...(t.identifierHash ? { identifierHash: t.identifierHash } : {}) } };
  switch (result.outcome) {
    case 'ok':
      return {
        type,
        outcome: 'success',
        accountId: result.account.id,
        details: { client, ...(result.mustChangePassword ? { mustChangePassword: true } : {}), ...(breached ? { breached: true } : {}) },
      };
    case 'failed':
      return { type, outcome: 'failure', reason: result.reason, ...about(result.target) };
    case 'temporary_password_expired':
      return { type, outcome: 'failure', reason: 'temporary_expired', ...about(result.target) };
    case 'locked':
      return { type, outcome: 'blocked', reason: result.hard ? 'locked_hard' : 'locked', ...about(result.target) };
    case 'ip_throttled':
      return { type, outcome: 'blocked', reason: 'ip_throttled', details: { client } };
  }
}

export function passwordStage(deps: { accounts: Accounts; audit: Audit; notices: SigninNotices; branding: Branding; resetEnabled: boolean; log: Logger }): Stage {
  const minutes = (s: number | undefined): number => Math.max(1, Math.ceil((s ?? 60) / 60));
  /**
   * A verified password found in the breach corpus must be replaced (ASVS 6.2.10, NIST
   * 800-63B). Only after the password verified, so a guess learns nothing. The corpus being
   * unreadable must not stop sign-ins: that is logged, and the sign-in goes on.
   */
  const breached = async (result: SigninResult, password: string): Promise<boolean> => {
    if (result.outcome !== 'ok' || result.mustChangePassword) return false;
    try {
      return await deps.accounts.rules.isBreached(password);
    } catch (err) {
      deps.log.error({ event: 'breach_check_failed', err: (err as Error).message }, 'BREACHED_PASSWORDS_FILE could not be searched');
      return false;
    }
  };
  return {
    name: 'password',
    needed: (r) => !r.state.accountId,
    render: (r, errors) =>
      signinPage({
        branding: deps.branding,
        uid: r.uid,
        csrf: r.state.csrf,
        clientName: r.clientName,
        forgot: deps.resetEnabled,
        ...(r.state.identifier ?? r.loginHint ? { identifier: r.state.identifier ?? r.loginHint } : {}),
        ...(errors ? { errors } : {}),
      }),
    async submit(r: StageRequest): Promise<StageResult> {
      const identifier = field(r.ctx, 'identifier', 320)?.trim();
      const password = field(r.ctx, 'password', 4096);
      if (identifier) r.state.identifier = identifier;
      if (!identifier || !password) {
        return { done: false, status: 400, errors: { form: t('signin.missing') } };
      }
      const result = await deps.accounts.authenticate(identifier, password, r.ip, { moreFactorsFollow: true });
      const isBreached = await breached(result, password);
      await deps.audit.record({ ...signinEvent(result, r.clientId, isBreached), ip: r.ip });
      if (result.outcome === 'failed' && result.lockStarted) {
        await deps.audit.record({ ...lockoutEvent(result.lockStarted, result.target, 'password'), ip: r.ip });
        // Sent after the answer, and only for a real account: the page and its timing stay those of an unknown name.
        if (result.target.accountId) deps.notices.lockStarted(result.target.accountId, result.lockStarted, 'password', { ip: r.ip, client: r.clientName });
      }
      switch (result.outcome) {
        case 'ok':
          r.state.accountId = result.account.id;
          // The stages after this one see the account just read, without reading it again.
          r.account = result.account;
          r.state.passed.push('password');
          r.state.amr = ['pwd'];
          if (isBreached) r.state.breachedPassword = true;
          delete r.state.identifier;
          return { done: true };
        case 'failed':
          return { done: false, status: 401, errors: { form: t('signin.failed') } };
        case 'temporary_password_expired':
          return { done: false, status: 401, errors: { form: t('signin.temporary_expired') } };
        case 'locked':
          return {
            done: false,
            status: 429,
            errors: { form: result.hard ? t('signin.locked_hard') : t('signin.locked', { minutes: minutes(result.retryAfterSeconds) }) },
          };
        case 'ip_throttled':
          return { done: false, status: 429, errors: { form: t('signin.ip_throttled', { minutes: minutes(result.retryAfterSeconds) }) } };
      }
    },
  };
}
