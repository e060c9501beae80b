/** Email: a code sent to the address, typed back. Weak (inboxes are often reachable by the attacker). */
import { isValidEmail, normalizeEmail } from '../normalize.ts';
import { randomId } from '../secrets.ts';
import { checkCode, sendCode, type CodeDeliveryDeps } from './code-delivery.ts';
import { maskEmail } from './mask.ts';
import type { EmailMethod, Method } from './types.ts';

export function emailMethod(deps: CodeDeliveryDeps): Method<EmailMethod> {
  return {
    kind: 'email',
    strong: false,
    amr: 'otp',
    mask: (r) => maskEmail(r.address),
    destination: (r) => r.address,

    async startRegistration(ctx, input) {
      const address = normalizeEmail(input.email ?? '');
      if (!isValidEmail(address)) return { ok: false, error: { id: 'email_invalid', field: 'email' } };
      const sent = await sendCode(deps, ctx, 'email', address, { address });
      return sent.ok ? { ok: true, value: { pending: sent.value, display: { sentTo: maskEmail(address) } } } : sent;
    },

    async finishRegistration(ctx, pending, input) {
      const checked = await checkCode(deps, ctx, pending, input);
      if (!checked.ok) return checked;
      const now = ctx.clock();
      return { ok: true, value: { id: randomId(9), kind: 'email', address: String(pending.address), registeredAt: now, confirmedAt: now } };
    },

    async startChallenge(ctx, record) {
      const sent = await sendCode(deps, ctx, 'email', record.address, {});
      return sent.ok ? { ok: true, value: { pending: sent.value, display: { sentTo: maskEmail(record.address) } } } : sent;
    },

    async verifyChallenge(ctx, _record, pending, input) {
      const checked = await checkCode(deps, ctx, pending, input);
      return checked.ok ? { ok: true, value: {} } : checked;
    },
  };
}
