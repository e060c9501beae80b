/**
 * Re-confirmation (security_info prompt): every SSPR_RECONFIRM_DAYS the user checks the
 * registered methods, shown masked, so a lost phone is noticed before it is needed.
 */
import type { Services } from '../../src/services.ts';
import { methodsOf } from '../../src/domain/policy.ts';
import { field } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { reconfirmPage } from '../views/pages/reconfirm.ts';
import type { Branding } from '../views/layout.ts';
import { auditContext } from './method-context.ts';
import type { Stage, StageResult } from './stage.ts';

export function reconfirmStage(services: Services, branding: Branding): Stage {
  const { policy, methods, accounts, clock, audit } = services;
  return {
    name: 'reconfirm',
    needed: (r) => !!r.account && policy.reconfirmDue(r.account, clock()) && !r.state.passed.includes('reconfirm'),
    render: (r, errors) =>
      reconfirmPage({
        branding,
        action: `/interaction/${r.uid}/reconfirm`,
        csrf: r.state.csrf,
        days: policy.options.reconfirmDays,
        methods: policy.usableMethods(r.account!).map((m) => ({ label: t(`method.${m.kind}`), masked: methods.get(m.kind)?.mask(m as never) ?? '' })),
        ...(errors ? { errors } : {}),
      }),
    async submit(r): Promise<StageResult> {
      if (field(r.ctx, 'action', 20) !== 'confirm') return { done: false, again: true };
      const now = clock();
      r.account = await accounts.update(r.account!.id, (a) => ({ ...a, methods: methodsOf(a).map((m) => ({ ...m, confirmedAt: now })) }));
      r.state.passed.push('reconfirm');
      const kinds = methodsOf(r.account).map((m) => m.kind);
      await audit.record({ type: 'method.confirmed', outcome: 'success', ...auditContext(r), details: { count: kinds.length, kinds: [...new Set(kinds)].join(',') } });
      return { done: true };
    },
  };
}
