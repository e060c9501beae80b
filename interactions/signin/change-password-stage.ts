/** Stage 2: a temporary password must be replaced before the sign-in finishes. */
import type { Accounts } from '../../src/domain/accounts.ts';
import type { Notifications } from '../../src/domain/notifications.ts';
import type { Audit } from '../../src/domain/audit.ts';
import type { Clock } from '../../src/store/types.ts';
import { field } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { changePasswordPage } from '../views/pages/change-password.ts';
import type { Branding } from '../views/layout.ts';
import type { Stage, StageResult } from './stage.ts';

export function changePasswordStage(deps: { accounts: Accounts; notifications: Notifications; audit: Audit; branding: Branding; clock: Clock }): Stage {
  const rules = deps.accounts.rules;
  return {
    name: 'new-password',
    needed: (r) => !!r.account?.mustChangePassword && !r.state.passed.includes('new-password'),
    render: (r, errors) =>
      changePasswordPage({
        branding: deps.branding,
        action: `/interaction/${r.uid}/new-password`,
        csrf: r.state.csrf,
        login: r.account?.login ?? '',
        minLength: rules.minLength,
        ...(errors ? { errors } : {}),
      }),
    async submit(r): Promise<StageResult> {
      const account = r.account!;
      const password = field(r.ctx, 'password', 4096);
      const confirm = field(r.ctx, 'confirm', 4096);
      if (!password) return { done: false, status: 400, errors: { fields: { password: t('password_too_short', { min: rules.minLength }) } } };
      if (password !== confirm) return { done: false, status: 400, errors: { fields: { confirm: t('password_mismatch') } } };
      const problem = await deps.accounts.changePassword(account.id, password, { signOutEverywhere: true });
      await deps.audit.record({
        type: 'password.changed',
        outcome: problem ? 'failure' : 'success',
        accountId: account.id,
        ip: r.ip,
        ...(problem ? { reason: problem } : {}),
        details: { via: 'temporary' },
      });
      if (problem) {
        return { done: false, status: 400, errors: { fields: { password: t(problem, { min: rules.minLength, max: rules.maxLength }) } } };
      }
      r.state.passed.push('new-password');
      await deps.notifications.passwordChanged(account, { at: deps.clock(), ip: r.ip });
      return { done: true };
    },
  };
}
