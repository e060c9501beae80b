/**
 * A password that must be replaced before the sign-in finishes: a temporary one (stage 2,
 * right after the password), or one found in the breach corpus (after the second factor, so
 * the breached password alone never sets a new one).
 */
import type { Accounts } from '../../src/domain/accounts.ts';
import type { Notifications } from '../../src/domain/notifications.ts';
import type { Audit } from '../../src/domain/audit.ts';
import type { Clock } from '../../src/store/types.ts';
import { field } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { changePasswordPage } from '../views/pages/change-password.ts';
import type { Branding } from '../views/layout.ts';
import type { Stage, StageResult } from './stage.ts';

/** The stage's URL segment for each reason a new password is due (one form, two stages). */
const STAGE_NAMES = {
  temporary: 'new-password',
  breached: 'breached-password',
} as const;

export function changePasswordStage(
  deps: { accounts: Accounts; notifications: Notifications; audit: Audit; branding: Branding; clock: Clock },
  why: 'temporary' | 'breached' = 'temporary',
): Stage {
  const rules = deps.accounts.rules;
  const name = STAGE_NAMES[why];
  return {
    name,
    needed: (r) =>
      (why === 'temporary' ? !!r.account?.mustChangePassword : !!r.state.breachedPassword) &&
      !r.state.passed.includes('new-password') &&
      !r.state.passed.includes('breached-password'),
    render: (r, errors) =>
      changePasswordPage({
        branding: deps.branding,
        action: `/interaction/${r.uid}/${name}`,
        lead: t(why === 'temporary' ? 'change_password.lead' : 'change_password.lead_breached'),
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
        details: { via: why },
      });
      if (problem) {
        return { done: false, status: 400, errors: { fields: { password: t(problem, { min: rules.minLength, max: rules.maxLength }) } } };
      }
      r.state.passed.push(name);
      await deps.notifications.passwordChanged(account, { at: deps.clock(), ip: r.ip });
      return { done: true };
    },
  };
}
