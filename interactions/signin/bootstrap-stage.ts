/**
 * Stage 3: the bootstrap proof of an account's first registration, so a password thief
 * cannot register his own phone: a code to the admin-provisioned primary address, or a
 * temporary access pass from the CLI. Skipped when policy says `password` (documented weak).
 */
import type { Services } from '../../src/services.ts';
import { checkCode, sendCode } from '../../src/domain/methods/code-delivery.ts';
import { codeEvent } from '../../src/domain/methods/code-events.ts';
import { maskEmail } from '../../src/domain/methods/mask.ts';
import { field } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { bootstrapPage } from '../views/pages/security-setup.ts';
import type { Branding } from '../views/layout.ts';
import { auditContext, methodContext } from './method-context.ts';
import type { FormErrors, Stage, StageRequest, StageResult } from './stage.ts';

export function bootstrapStage(services: Services, branding: Branding): Stage {
  const { policy, codeDelivery, accessPasses, clock, audit } = services;
  const mode = policy.options.bootstrap;

  const primary = (r: StageRequest): string | undefined => r.account?.emails[0]?.address;

  async function send(r: StageRequest): Promise<FormErrors | undefined> {
    const to = primary(r);
    if (mode !== 'email' || !to) return undefined;
    const sent = await sendCode(codeDelivery, methodContext(r, clock, 'bootstrap'), 'email', to, {});
    const event = codeEvent('bootstrap', undefined, sent.ok ? { ok: true, value: { pending: sent.value, display: { sentTo: maskEmail(to) } } } : sent);
    if (event) await audit.record({ ...event, ...auditContext(r) });
    if (!sent.ok) return { form: t(sent.error.id, sent.error.vars) };
    r.state.bootstrap = { pending: sent.value, sentTo: maskEmail(to) };
    return undefined;
  }

  return {
    name: 'bootstrap',
    needed: (r) =>
      mode !== 'password' &&
      !!r.account &&
      policy.needsRegistration(r.account) &&
      policy.isFirstRegistration(r.account) &&
      r.account.bootstrapProvenAt === undefined &&
      !r.state.passed.includes('bootstrap') &&
      !r.state.postponed,

    startsOnRender: (r) => !r.state.bootstrap,

    async render(r, errors) {
      let shown = errors;
      if (!r.state.bootstrap) shown = (await send(r)) ?? errors;
      return bootstrapPage({
        branding,
        uid: r.uid,
        csrf: r.state.csrf,
        action: `/interaction/${r.uid}/bootstrap`,
        mode: mode === 'tap' ? 'tap' : 'email',
        ...(r.state.bootstrap?.sentTo ? { sentTo: r.state.bootstrap.sentTo } : {}),
        ...(shown ? { errors: shown } : {}),
      });
    },

    async submit(r): Promise<StageResult> {
      const action = field(r.ctx, 'action', 20);
      const account = r.account!;
      if (action === 'tap') {
        const pass = field(r.ctx, 'pass', 100) ?? '';
        if (!(await accessPasses.redeem(account.id, pass))) {
          await audit.record({ type: 'bootstrap.failed', outcome: 'failure', ...auditContext(r), reason: 'access_pass_wrong', details: { via: 'tap' } });
          return { done: false, status: 400, errors: { fields: { pass: t('bootstrap.tap_wrong') } } };
        }
      } else if (action === 'resend' && mode === 'email') {
        const errors = await send(r);
        return errors ? { done: false, status: 429, errors } : { done: false, again: true };
      } else if (action === 'code' && mode === 'email') {
        const checked = await checkCode(codeDelivery, methodContext(r, clock, 'bootstrap'), r.state.bootstrap?.pending ?? {}, { code: field(r.ctx, 'code', 20) });
        if (!checked.ok) {
          await audit.record({ type: 'code.failed', outcome: 'failure', ...auditContext(r), reason: checked.error.id, details: { purpose: 'bootstrap', channel: 'email' } });
          await audit.record({ type: 'bootstrap.failed', outcome: 'failure', ...auditContext(r), reason: checked.error.id, details: { via: 'email' } });
          if (checked.error.final) delete r.state.bootstrap;
          return { done: false, status: 400, errors: { fields: { code: t(checked.error.id, checked.error.vars) } } };
        }
      } else {
        return { done: false, again: true };
      }
      if (action === 'code') {
        // The code reached the primary address: it is now proven (email_verified).
        r.account = await services.accounts.update(account.id, (a) => ({ ...a, emails: a.emails.map((e, i) => (i === 0 ? { ...e, verified: true } : e)) }));
      }
      r.state.passed.push('bootstrap');
      delete r.state.bootstrap;
      await audit.record({ type: 'bootstrap.used', outcome: 'success', ...auditContext(r), details: { via: action === 'tap' ? 'tap' : 'email' } });
      return { done: true };
    },
  };
}
