/** Stage 1: login name or email + password. Every failure shows one generic message. */
import type { Accounts } from '../../src/domain/accounts.ts';
import { field } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { signinPage } from '../views/pages/signin.ts';
import type { Branding } from '../views/layout.ts';
import type { Stage, StageRequest, StageResult } from './stage.ts';

export function passwordStage(deps: { accounts: Accounts; branding: Branding; resetEnabled: boolean }): Stage {
  const minutes = (s: number | undefined): number => Math.max(1, Math.ceil((s ?? 60) / 60));
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
      switch (result.outcome) {
        case 'ok':
          r.state.accountId = result.account.id;
          r.state.passed.push('password');
          r.state.amr = ['pwd'];
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
