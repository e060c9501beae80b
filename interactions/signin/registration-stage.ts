/**
 * Stage 4: registration of recovery methods, for an account in scope with fewer methods than
 * policy requires. The user picks a method, gives its input (address, number), proves
 * possession; each proven method is saved at once and counts as a factor of this sign-in.
 */
import type { Services } from '../../src/services.ts';
import type { AccountRecord } from '../../src/store/types.ts';
import type { MethodKind, MethodRecord, FormInput, StepDisplay } from '../../src/domain/methods/types.ts';
import { methodsOf } from '../../src/domain/policy.ts';
import { BadRequest } from '../../src/errors.ts';
import { field, formFields } from '../http/body.ts';
import { t } from '../../src/i18n/index.ts';
import { chooserPage, methodInputPage, proofPage } from '../views/pages/security-setup.ts';
import type { Branding } from '../views/layout.ts';
import { amrOf, auditContext, methodContext } from './method-context.ts';
import type { FormErrors, Stage, StageRequest, StageResult } from './stage.ts';
import type { MethodError } from '../../src/domain/methods/types.ts';
import { codeEvent } from '../../src/domain/methods/code-events.ts';

const NEEDS_INPUT: readonly MethodKind[] = ['email', 'mobile_phone', 'office_phone'];

/** One method of each kind: another sign-in of the same account registered this kind first. */
class AlreadyRegistered extends Error {}

function toErrors(e: MethodError): FormErrors {
  const message = t(e.id, e.vars);
  return e.field ? { fields: { [e.field]: message } } : { form: message };
}

export function registrationStage(services: Services, branding: Branding): Stage {
  const { policy, methods, accounts, clock, notifications, box, audit } = services;
  const action = (r: StageRequest): string => `/interaction/${r.uid}/register`;

  /** Kinds the user may still add: allowed by policy and not registered yet. */
  function available(r: StageRequest): MethodKind[] {
    const have = new Set(methodsOf(r.account!).map((m) => m.kind));
    return policy.allowedKinds(r.account!).filter((k) => !have.has(k) && methods.has(k));
  }

  /** Starts a method's registration step; on failure, the errors and the status to answer with. */
  async function start(r: StageRequest, kind: MethodKind, input: FormInput): Promise<{ errors: FormErrors; status: number } | undefined> {
    const method = methods.get(kind)!;
    const started = await method.startRegistration(methodContext(r, clock, 'register'), input);
    const event = codeEvent('register', kind, started);
    if (event) await audit.record({ ...event, ...auditContext(r) });
    if (!started.ok) return { errors: toErrors(started.error), status: started.error.id === 'send_throttled' ? 429 : 400 };
    r.state.registration = { kind, pending: started.value.pending, display: box.seal(JSON.stringify(started.value.display)), values: pickValues(input) };
    return undefined;
  }

  /** Adds the method; false (nothing written) when the account got one of that kind meanwhile (another sign-in). */
  async function save(r: StageRequest, record: MethodRecord, amr: string): Promise<boolean> {
    const first = methodsOf(r.account!).length === 0;
    let updated: AccountRecord;
    try {
      updated = await accounts.update(r.account!.id, (a) => {
        if (methodsOf(a).some((m) => m.kind === record.kind)) throw new AlreadyRegistered();
        return {
          ...a,
          methods: [...methodsOf(a), record],
          // An email method proven by a code also proves that address on the account.
          emails: a.emails.map((e) => (record.kind === 'email' && e.address === record.address ? { ...e, verified: true } : e)),
        };
      });
    } catch (e) {
      if (!(e instanceof AlreadyRegistered)) throw e;
      r.account = (await accounts.get(r.account!.id)) ?? r.account;
      delete r.state.registration;
      return false;
    }
    r.account = updated;
    r.state.amr = [...new Set([...r.state.amr, amr])];
    r.state.passed.push(`registered:${record.kind}`);
    delete r.state.registration;
    await audit.record({ type: 'method.registered', outcome: 'success', ...auditContext(r), details: { kind: record.kind, masked: methods.get(record.kind)?.mask(record as never) ?? '', first } });
    if (first) await notifications.firstRegistration(updated, { at: clock(), ip: r.ip, method: t(`method.${record.kind}`) });
    return true;
  }

  return {
    name: 'register',
    needed: (r) =>
      !!r.account &&
      policy.needsRegistration(r.account) &&
      // A second factor that must be used cannot be postponed or switched off: nobody goes through without one.
      (policy.needsSecondFactorRegistration(r.account) || (policy.options.registerAtSignin && !r.state.postponed)),

    render(r, errors) {
      const account = r.account!;
      const reg = r.state.registration;
      const base = { branding, uid: r.uid, csrf: r.state.csrf, action: action(r), ...(errors ? { errors } : {}) };
      if (reg && !reg.pending && (NEEDS_INPUT as string[]).includes(reg.kind)) {
        return methodInputPage({ ...base, kind: reg.kind as 'email', values: reg.values ?? {} });
      }
      if (reg?.pending) {
        const display = reg.display ? (JSON.parse(box.open(reg.display)) as StepDisplay) : {};
        return proofPage({ ...base, kind: reg.kind, display, registering: true, questionCount: services.config.SSPR_QUESTIONS_REGISTER, values: reg.values ?? {} });
      }
      const postponed = account.registrationPostponed ?? 0;
      return chooserPage({
        ...base,
        have: policy.usableMethods(account).length,
        need: policy.requiredMethods(account),
        kinds: available(r),
        registered: policy.usableMethods(account).map((m) => ({ label: t(`method.${m.kind}`), masked: methods.get(m.kind)?.mask(m as never) ?? '' })),
        canPostpone: postponed < policy.options.postponeLimit && !policy.needsSecondFactorRegistration(account),
      });
    },

    async submit(r): Promise<StageResult> {
      const what = field(r.ctx, 'action', 20);
      const input = formFields(r.ctx);
      const fail = (errors: FormErrors, status = 400): StageResult => ({ done: false, status, errors });
      const again: StageResult = { done: false, again: true };
      switch (what) {
        case 'choose': {
          const kind = input.kind as MethodKind | undefined;
          if (!kind || !available(r).includes(kind)) return fail({ form: t('method_unknown') });
          if ((NEEDS_INPUT as string[]).includes(kind)) {
            r.state.registration = { kind };
            return again;
          }
          const failed = await start(r, kind, {});
          return failed ? fail(failed.errors, failed.status) : again;
        }
        case 'start':
        case 'resend': {
          const reg = r.state.registration;
          if (!reg) return fail({ form: t('method_unknown') });
          const failed = await start(r, reg.kind, what === 'resend' ? (reg.values ?? {}) : input);
          if (failed) {
            if (what === 'start') r.state.registration = { kind: reg.kind, values: pickValues(input) };
            return fail(failed.errors, failed.status);
          }
          return again;
        }
        case 'finish': {
          const reg = r.state.registration;
          if (!reg?.pending) return fail({ form: t('code_expired') });
          const method = methods.get(reg.kind)!;
          const finished = await method.finishRegistration(methodContext(r, clock, 'register'), reg.pending, input);
          if (!finished.ok) {
            await audit.record({ type: 'method.registration_failed', outcome: 'failure', ...auditContext(r), reason: finished.error.id, details: { kind: reg.kind } });
            // A dead code (too many wrong tries, expired) keeps its proof page, whose code field shows
            // why and whose "Send a new code" starts over; the input page has no code field to show it.
            if (finished.error.final && !(NEEDS_INPUT as string[]).includes(reg.kind)) delete reg.pending;
            reg.values = { ...(reg.values ?? {}), ...pickQuestions(input) };
            return fail(toErrors(finished.error));
          }
          if (!(await save(r, finished.value, amrOf(method.amr, reg.pending)))) {
            await audit.record({ type: 'method.registration_failed', outcome: 'failure', ...auditContext(r), reason: 'method_not_allowed', details: { kind: reg.kind } });
            return fail({ form: t('method_not_allowed') }, 409);
          }
          return { done: true };
        }
        case 'back':
          delete r.state.registration;
          return again;
        case 'postpone': {
          const account = r.account!;
          if ((account.registrationPostponed ?? 0) >= policy.options.postponeLimit || policy.needsSecondFactorRegistration(account)) return fail({ form: t('method_not_allowed') });
          r.account = await accounts.update(account.id, (a) => ({ ...a, registrationPostponed: (a.registrationPostponed ?? 0) + 1 }));
          r.state.postponed = true;
          await audit.record({ type: 'registration.postponed', outcome: 'success', ...auditContext(r), details: { count: r.account.registrationPostponed ?? 1 } });
          return { done: true };
        }
        default:
          throw new BadRequest();
      }
    },
  };
}

/** Non-secret inputs worth keeping for a resend or a re-render (never codes or answers). */
function pickValues(input: FormInput): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['email', 'phone', 'extension', 'channel']) if (input[k]) out[k] = input[k]!;
  return out;
}

function pickQuestions(input: FormInput): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) if (/^question_\d$/.test(k) && v) out[k] = v;
  return out;
}
