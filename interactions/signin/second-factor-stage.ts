/**
 * The second-factor stage: after the password, an account that must use two factors (policy,
 * or a client's `acr_values` step-up) proves one of its eligible methods, the last used first.
 * A remembered device skips it, except for a step-up. Every failure counts toward the
 * account's sign-in lockout and is an audit event.
 */
import type { Services } from '../../src/services.ts';
import { lockoutEvent } from '../../src/domain/accounts.ts';
import { codeEvent } from '../../src/domain/methods/code-events.ts';
import type { MethodError, MethodRecord, StepDisplay } from '../../src/domain/methods/types.ts';
import { recordMethodUse } from '../../src/domain/methods/method-use.ts';
import { BadRequest } from '../../src/errors.ts';
import { field, formFields } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { proofPage } from '../views/pages/security-setup.ts';
import { secondFactorChooser } from '../views/pages/second-factor.ts';
import type { Branding } from '../views/layout.ts';
import { amrOf, auditContext, methodContext } from './method-context.ts';
import { cookieNames } from '../../src/cookie-names.ts';
import type { FormErrors, Stage, StageRequest, StageResult } from './stage.ts';

function toErrors(e: MethodError): FormErrors {
  const message = t(e.id, e.vars);
  return e.field ? { fields: { [e.field]: message } } : { form: message };
}

export function secondFactorStage(services: Services, branding: Branding): Stage {
  const { policy, methods, accounts, clock, box, audit, devices, config, signinNotices } = services;
  const deviceCookie = cookieNames(config.ISSUER).device;
  const action = (r: StageRequest): string => `/interaction/${r.uid}/second-factor`;
  const refOf = (m: MethodRecord, i: number): string => `f${i}`;
  const eligible = (r: StageRequest): MethodRecord[] => policy.secondFactorMethods(r.account!);
  const byRef = (r: StageRequest, ref: string): MethodRecord | undefined => eligible(r).find((m, i) => refOf(m, i) === ref);
  /**
   * The state keeps the chosen method by id, with its channel (`<id>.<channel>`): the chooser's
   * order may change meanwhile (another sign-in uses a method), and a resend must use the same
   * channel (a voice call again, not a text).
   */
  const keep = (m: MethodRecord, channel: string | undefined): string => `${m.id}.${channel ?? ''}`;
  const kept = (r: StageRequest): { record: MethodRecord | undefined; channel: string | undefined } => {
    const ref = r.state.secondFactor?.ref ?? '';
    const dot = ref.lastIndexOf('.');
    const id = dot < 0 ? ref : ref.slice(0, dot);
    return { record: eligible(r).find((m) => m.id === id), channel: (dot < 0 ? '' : ref.slice(dot + 1)) || undefined };
  };
  /** A factor of another kind than the password was already proven in this sign-in (e.g. a method just registered). */
  const alreadyHasFactor = (r: StageRequest): boolean => r.state.amr.some((a) => a !== 'pwd' && a !== 'kba' && a !== 'mfa');

  return {
    name: 'second-factor',
    needed(r) {
      if (!r.account || r.state.passed.includes('second-factor') || alreadyHasFactor(r)) return false;
      const wanted = r.state.stepUp || r.mfaRequested || policy.requiresSecondFactor(r.account);
      if (!wanted || eligible(r).length === 0) return false;
      // A remembered device stands in for the factor, but never for a step-up.
      if (!r.state.stepUp && !r.mfaRequested && devices.valid(r.account, r.ctx.cookies.get(deviceCookie, { signed: true }))) return false;
      return true;
    },

    render(r, errors) {
      const base = { branding, uid: r.uid, csrf: r.state.csrf, action: action(r), ...(errors ? { errors } : {}) };
      const current = r.state.secondFactor;
      const record = current ? kept(r).record : undefined;
      if (current?.pending && record) {
        const display = current.display ? (JSON.parse(box.open(current.display)) as StepDisplay) : {};
        return proofPage({ ...base, kind: record.kind, display, registering: false, ...(devices.enabled && !r.state.stepUp ? { rememberDays: config.REMEMBER_DEVICE_DAYS } : {}) });
      }
      return secondFactorChooser({
        ...base,
        lead: r.state.stepUp || r.mfaRequested ? t('second_factor.step_up', { client: r.clientName }) : t('second_factor.lead'),
        methods: eligible(r).map((m, i) => ({ ref: refOf(m, i), kind: m.kind, masked: methods.get(m.kind)?.mask(m as never) ?? '' })),
      });
    },

    async submit(r): Promise<StageResult> {
      const account = r.account!;
      const input = formFields(r.ctx);
      const what = field(r.ctx, 'action', 20);
      const fail = (errors: FormErrors, status = 400): StageResult => ({ done: false, status, errors });
      const lock = await accounts.lockState(account.id);
      if (lock.locked) {
        const kind = kept(r).record?.kind;
        await audit.record({ type: 'second_factor.failed', outcome: 'blocked', ...auditContext(r), reason: lock.hard ? 'locked_hard' : 'locked', ...(kind ? { details: { kind } } : {}) });
        return fail({ form: lock.hard ? t('signin.locked_hard') : t('signin.locked', { minutes: Math.max(1, Math.ceil((lock.retryAfterSeconds ?? 60) / 60)) }) }, 429);
      }
      const ctx = methodContext(r, clock, 'signin');

      if (what === 'choose' || what === 'resend') {
        const [ref, chosenChannel] = (input.ref ?? '').split('.');
        const { record, channel } = what === 'resend' ? kept(r) : { record: byRef(r, ref ?? ''), channel: chosenChannel };
        if (!record) return fail({ form: t('method_unknown') });
        const started = await methods.get(record.kind)!.startChallenge(ctx, record as never, channel ? { channel } : {});
        const event = codeEvent('second_factor', record.kind, started);
        if (event) await audit.record({ ...event, ...auditContext(r) });
        if (!started.ok) return fail(toErrors(started.error), started.error.id === 'send_throttled' ? 429 : 400);
        r.state.secondFactor = { ref: keep(record, channel), pending: started.value.pending, display: box.seal(JSON.stringify(started.value.display)) };
        return { done: false, again: true };
      }
      if (what === 'back') {
        delete r.state.secondFactor;
        return { done: false, again: true };
      }
      if (what !== 'finish') throw new BadRequest();

      const current = r.state.secondFactor;
      const record = current?.pending ? kept(r).record : undefined;
      if (!current?.pending || !record) return fail({ form: t('code_expired') });
      const method = methods.get(record.kind)!;
      const verified = await method.verifyChallenge(ctx, record as never, current.pending, input);
      // The use is written only if this TOTP step or recovery code was not spent meanwhile by
      // another sign-in or reset: of concurrent uses of one code exactly one passes.
      const used = verified.ok ? await recordMethodUse(accounts, account.id, record, { ...(verified.value.updated ?? record), lastUsedAt: clock() } as MethodRecord) : undefined;
      if (!used) {
        const failure: MethodError = verified.ok ? { id: 'code_used', field: 'code' } : verified.error;
        const lockStarted = await accounts.recordSecondFactorFailure(account.id, r.ip);
        await audit.record({ type: 'second_factor.failed', outcome: 'failure', ...auditContext(r), reason: failure.id, details: { kind: record.kind } });
        if (lockStarted) {
          await audit.record({ ...lockoutEvent(lockStarted, { accountId: account.id }, 'second_factor'), ...auditContext(r) });
          signinNotices.lockStarted(account.id, lockStarted, 'second_factor', { ip: r.ip, client: r.clientName });
        }
        if (failure.final) delete current.pending;
        return fail(toErrors(failure));
      }
      r.account = used;
      r.state.amr = [...new Set([...r.state.amr, amrOf(method.amr, current.pending)])];
      r.state.passed.push('second-factor');
      delete r.state.secondFactor;
      await audit.record({ type: 'second_factor.succeeded', outcome: 'success', ...auditContext(r), details: { kind: record.kind, stepUp: !!r.state.stepUp } });
      if (input.remember === 'yes' && devices.enabled && !r.state.stepUp) {
        const { cookie, maxAgeMs } = await devices.remember(r.account, r.ctx.get('user-agent'));
        r.ctx.cookies.set(deviceCookie, cookie, { signed: true, httpOnly: true, sameSite: 'lax', path: '/', maxAge: maxAgeMs, secure: r.ctx.secure });
      }
      return { done: true };
    },
  };
}
