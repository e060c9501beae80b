/**
 * "My security info" at /account/security: a signed-in user sees and changes their recovery
 * methods. Who is signed in comes from oidc-provider's own session (`Session.get`); without
 * one, /account/login starts an authorization request as the internal first-party client
 * `rekey-account` (code + PKCE, like the demo app), and /account/callback redeems the code.
 *
 * Changing anything needs a recent proof kept server-side per session: the password (failures
 * count toward the sign-in lockout), then one registered method, both within
 * RECENT_PROOF_MINUTES. An account with no usable method proves the password alone; an
 * account in scope with no method at all sets up its first one at sign-in (bootstrap proof).
 *
 * Every change updates the account in one optimistic write, marks every method confirmed,
 * is audited (actor `self`) and is told by email to the previously registered addresses and
 * the primary address. Every POST carries the session's CSRF token.
 *
 * The management page also lists the remembered devices ("don't ask again on this device"):
 * each can be forgotten, or all at once (audited `device.forgotten`, told like other changes).
 * Removing a method forgets every remembered device, since the factor they stood for may be gone.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import * as oidc from 'openid-client';
import type { Services } from '../../src/services.ts';
import type { AccountRecord } from '../../src/store/types.ts';
import type { FormInput, MethodContext, MethodError, MethodKind, MethodRecord, RecoveryCodesMethod, StepDisplay } from '../../src/domain/methods/types.ts';
import { methodsOf } from '../../src/domain/policy.ts';
import { lockoutEvent } from '../../src/domain/accounts.ts';
import { codeEvent } from '../../src/domain/methods/code-events.ts';
import { remainingCodes } from '../../src/domain/methods/recovery-codes.ts';
import { RecentProofs, type RecentProof } from '../../src/domain/recent-proof.ts';
import { notifySecurityInfoChanged } from '../../src/domain/security-info-notice.ts';
import { constantTimeEqual, randomId } from '../../src/domain/secrets.ts';
import { BadRequest, CsrfFailed } from '../../src/errors.ts';
import { clientIp } from '../http/client-ip.ts';
import { field, formFields, parseBody } from '../http/body.ts';
import { noStore } from '../http/security-headers.ts';
import { exclusive } from '../http/step-lock.ts';
import { t } from '../../src/i18n/index.ts';
import type { Branding } from '../views/layout.ts';
import type { FormErrors } from '../signin/stage.ts';
import { chooserPage, methodInputPage, proofPage } from '../views/pages/security-setup.ts';
import {
  ACCOUNT_PATHS,
  accountManagePage,
  accountNewCodesPage,
  accountPasswordPage,
  accountPickMethodPage,
  accountSigninPromptPage,
  cancelAddForm,
  minute,
} from '../views/pages/account.ts';
import { ACCOUNT_CLIENT_ID } from './account-client.ts';
import { SecurityInfoStates, type SecurityInfoState } from './state.ts';
import { selfLogin } from '../http/self-client.ts';
import { cookieNames } from '../../src/cookie-names.ts';
import { endSession, listSessions, sessionHandle, type AccountSession } from './sessions.ts';
import { backchannelLogout } from '../../src/provider/backchannel.ts';

export interface AccountRoutesDeps {
  provider: Provider;
  services: Services;
  branding: Branding;
}

interface Req {
  ctx: Context;
  account: AccountRecord;
  sessionUid: string;
  state: SecurityInfoState;
  ip: string;
}

/** What a POST handler decided: redirect to the page (no errors) or re-render it with errors. */
type Outcome = { errors?: FormErrors; status?: number };

/** A change the current account refuses (message id and variables); nothing is written. */
class Refused extends Error {
  constructor(
    readonly id: string,
    readonly vars: Record<string, string | number> = {},
  ) {
    super(id);
  }
}

/** Notices after a method was added or removed: the page then offers to end every other session (ASVS 7.4.3). */
const METHOD_CHANGE_NOTICES: readonly string[] = ['account.notice.added', 'account.notice.removed', 'account.notice.removed_devices'];
const NEEDS_INPUT: readonly MethodKind[] = ['email', 'mobile_phone', 'office_phone'];
const TX_TTL_MS = 30 * 60 * 1000;
/** Wrong method proofs per account within the window before proving is blocked for the rest of it. */
const PROOF_FAILURE_LIMIT = 10;
const PROOF_FAILURE_WINDOW_MS = 60 * 60 * 1000;

function toErrors(e: MethodError): FormErrors {
  const message = t(e.id, e.vars);
  return e.field ? { fields: { [e.field]: message } } : { form: message };
}

function pick(input: FormInput, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (input[k]) out[k] = input[k]!;
  return out;
}

function pickQuestions(input: FormInput): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) if (/^question_\d$/.test(k) && v) out[k] = v;
  return out;
}

export function accountRoutes({ provider, services, branding }: AccountRoutesDeps): Router {
  const { config, policy, methods, accounts, clock, box, audit, store, devices, signinNotices } = services;
  const issuer = config.ISSUER;
  const cookieName = cookieNames(issuer);
  const proofs = new RecentProofs(store.ephemeral, clock, config.RECENT_PROOF_MINUTES * 60_000);
  const states = new SecurityInfoStates(store.ephemeral, clock);
  const body = parseBody(config.MAX_BODY_BYTES);
  const router = new Router();
  const tellRelyingParties = (accountId: string) => (session: AccountSession) => backchannelLogout(provider, accountId, session.authorizations, services.log);

  // --- the internal relying party -------------------------------------------------------

  const login = selfLogin({ issuer, clientId: ACCOUNT_CLIENT_ID, name: 'account', cookie: cookieName.accountTx, callbackPath: ACCOUNT_PATHS.callback, ttlMs: TX_TTL_MS, store: store.ephemeral, clock });

  router.get(ACCOUNT_PATHS.login, (ctx) => login.start(ctx));

  router.get(ACCOUNT_PATHS.callback, async (ctx) => {
    try {
      if (!(await login.finish(ctx))) throw new BadRequest(t('account.signin.expired'));
    } catch (e) {
      if (e instanceof BadRequest) throw e;
      // The user cancelled the sign-in: back to the prompt.
      if (e instanceof oidc.AuthorizationResponseError) return void ctx.redirect(ACCOUNT_PATHS.page);
      services.log.warn({ event: 'account_signin_failed', err: (e as Error).message });
      throw new BadRequest(t('account.signin.failed'));
    }
    ctx.status = 303;
    ctx.redirect(ACCOUNT_PATHS.page);
  });

  // --- who, and what they proved ----------------------------------------------------------

  async function signedIn(ctx: Context): Promise<{ account: AccountRecord; sessionUid: string } | undefined> {
    // Works outside the provider's routes; the model adapter refuses sessions older than the account's notBefore.
    const Session = provider.Session as unknown as { get(ctx: Context): Promise<{ uid: string; accountId?: string }> };
    const session = await Session.get(ctx);
    if (!session.accountId) return undefined;
    const account = await accounts.get(session.accountId);
    if (!account || account.status !== 'active') return undefined;
    return { account, sessionUid: session.uid };
  }

  /** An account in scope without any method sets up its first one at sign-in, with the bootstrap proof. */
  const firstMethodAtSignin = (a: AccountRecord): boolean => policy.inScope(a) && methodsOf(a).length === 0;

  const proofOf = (r: Req): Promise<RecentProof | undefined> => proofs.get(r.account.id, r.sessionUid, r.account.notBefore);

  /** Registered methods that can serve as step 2; security questions only when nothing else is there (never the only weak stand-in). */
  function proofMethods(a: AccountRecord): MethodRecord[] {
    const usable = policy.usableMethods(a).filter((m) => methods.has(m.kind));
    const others = usable.filter((m) => m.kind !== 'security_questions');
    return others.length ? others : usable;
  }

  /** Kinds the user may add: allowed by policy, built, not registered yet. */
  function available(a: AccountRecord): MethodKind[] {
    const have = new Set(methodsOf(a).map((m) => m.kind));
    return policy.allowedKinds(a).filter((k) => !have.has(k) && methods.has(k));
  }

  const label = (m: MethodRecord): string => t(`method.${m.kind}`);
  const masked = (m: MethodRecord): string =>
    m.kind === 'recovery_codes' ? t('account.codes_left', { count: remainingCodes(m) }) : (methods.get(m.kind)?.mask(m as never) ?? t('account.manage.not_offered'));
  const describe = (m: MethodRecord): string => `${label(m)} (${masked(m)})`;

  const methodContext = (r: Req, purpose: string): MethodContext => ({
    accountId: r.account.id,
    login: r.account.login,
    admin: r.account.admin,
    clock,
    ip: r.ip,
    purpose,
  });
  const auditContext = (r: Req) => ({ accountId: r.account.id, actor: 'self', ip: r.ip, userAgent: r.ctx.get('user-agent').slice(0, 200) });
  const failKey = (accountId: string): string => `{a:${accountId}}:security-info:proof-failures`;

  async function load(ctx: Context, who: { account: AccountRecord; sessionUid: string }): Promise<Req> {
    const state = await states.load(who.account.id, who.sessionUid);
    return { ctx, ...who, state, ip: clientIp(ctx, config.TRUST_PROXY_HOPS) };
  }

  function show(ctx: Context, page: string, status = 200): void {
    noStore(ctx);
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = page;
  }

  /** The remembered-device id this browser's cookie names for the signed-in account (not verified: only for display and clearing). */
  function deviceIdOf(r: Req): string | undefined {
    const [accountId, id] = (r.ctx.cookies.get(cookieName.device, { signed: true }) ?? '').split('.');
    return accountId === r.account.id && id ? id : undefined;
  }

  /** Drops this browser's device cookie when the device it names is forgotten (undefined: all were). */
  function clearDeviceCookie(r: Req, deviceId?: string): void {
    const current = deviceIdOf(r);
    if (!current || (deviceId !== undefined && deviceId !== current)) return;
    r.ctx.cookies.set(cookieName.device, null, { signed: true, httpOnly: true, sameSite: 'lax', path: '/', secure: r.ctx.secure });
  }

  // --- rendering ----------------------------------------------------------------------------

  async function render(r: Req, errors?: FormErrors): Promise<string> {
    const proof = await proofOf(r);
    if (!proof) return renderProofStep(r, errors);
    return renderManagement(r, proof, errors);
  }

  async function renderProofStep(r: Req, errors?: FormErrors): Promise<string> {
    const { state, account } = r;
    // Changes in progress need a recent proof: they die with it.
    delete state.add;
    delete state.newCodes;
    delete state.notice;
    if (!proofs.fresh(state.passwordAt)) {
      delete state.passwordAt;
      delete state.challenge;
      return accountPasswordPage({ branding, csrf: state.csrf, login: account.login, ...(errors ? { errors } : {}) });
    }
    const candidates = proofMethods(account);
    if (candidates.length === 0) {
      // No usable method (e.g. removed meanwhile): the password alone is the proof.
      const proof = await completeProof(r, undefined);
      return renderManagement(r, proof, errors);
    }
    const ch = state.challenge;
    if (ch && candidates.some((m) => m.id === ch.methodId)) {
      const display = JSON.parse(box.open(ch.display)) as StepDisplay;
      return proofPage({
        branding,
        uid: '',
        csrf: state.csrf,
        action: ACCOUNT_PATHS.verify,
        kind: ch.kind,
        display,
        registering: false,
        ...(errors ? { errors } : {}),
      });
    }
    delete state.challenge;
    return accountPickMethodPage({
      branding,
      csrf: state.csrf,
      methods: candidates.map((m) => ({ id: m.id, label: label(m), masked: masked(m) })),
      ...(errors ? { errors } : {}),
    });
  }

  async function renderManagement(r: Req, proof: RecentProof, errors?: FormErrors): Promise<string> {
    const { state, account } = r;
    const csrf = state.csrf;
    if (state.newCodes) {
      const codes = JSON.parse(box.open(state.newCodes)) as string[];
      return accountNewCodesPage({ branding, csrf, codes, ...(errors ? { errors } : {}) });
    }
    const add = state.add;
    if (add) {
      const base = { branding, uid: '', csrf, action: ACCOUNT_PATHS.add, ...(errors ? { errors } : {}) };
      if (add.kind && !add.pending && NEEDS_INPUT.includes(add.kind)) {
        return methodInputPage({ ...base, kind: add.kind as 'email', values: add.values ?? {} });
      }
      if (add.kind && add.pending) {
        const display = add.display ? (JSON.parse(box.open(add.display)) as StepDisplay) : {};
        return proofPage({ ...base, kind: add.kind, display, registering: true, questionCount: config.SSPR_QUESTIONS_REGISTER, values: add.values ?? {} });
      }
      const usable = policy.usableMethods(account);
      const page = chooserPage({
        ...base,
        have: usable.length,
        need: policy.requiredMethods(account),
        kinds: available(account),
        registered: usable.map((m) => ({ label: label(m), masked: masked(m) })),
        canPostpone: false,
      });
      return page.replace('</main>', `${cancelAddForm(csrf).value}\n</main>`);
    }
    const notice = state.notice ? t(state.notice.id, state.notice.vars) : undefined;
    const offerEndOthers = state.notice !== undefined && METHOD_CHANGE_NOTICES.includes(state.notice.id);
    delete state.notice;
    const all = methodsOf(account);
    const remembered = devices.list(account);
    const thisDevice = deviceIdOf(r);
    return accountManagePage({
      branding,
      csrf,
      name: account.name,
      methods: all.map((m) => ({ id: m.id, label: label(m), masked: masked(m) })),
      need: policy.requiredMethods(account),
      canAdd: available(account).length > 0,
      hasRecoveryCodes: methods.has('recovery_codes') && all.some((m) => m.kind === 'recovery_codes'),
      minutes: Math.max(1, Math.ceil((proof.expiresAt - clock()) / 60_000)),
      // Shown while the feature is on, or while devices from when it was on remain to be forgotten.
      ...(devices.enabled || remembered.length > 0
        ? { devices: remembered.map((d) => ({ id: d.id, label: d.label, created: d.createdAt, expires: d.expiresAt, current: d.id === thisDevice })) }
        : {}),
      ...(notice ? { notice } : {}),
      ...(offerEndOthers ? { offerEndOthers } : {}),
      sessions: (await listSessions(store, account.id, account.notBefore)).map((s) => ({
        handle: sessionHandle(s.uid),
        signedInAt: s.signedInAt,
        ...(s.expiresAt ? { expiresAt: s.expiresAt } : {}),
        current: s.uid === r.sessionUid,
      })),
      ...(errors ? { errors } : {}),
    });
  }

  /**
   * One request of a session's security-info state at a time (see http/step-lock.ts), taken
   * before the state is loaded: a concurrent POST gets 409 and changes nothing, a GET waits.
   */
  const alone = <T>(who: { account: AccountRecord; sessionUid: string }, fn: () => Promise<T>, waitMs = 0): Promise<T> =>
    exclusive(store, clock, `{a:${who.account.id}}:security-info-lock:${who.sessionUid}`, fn, { waitMs });

  router.get(ACCOUNT_PATHS.page, async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return show(ctx, accountSigninPromptPage({ branding }));
    if (firstMethodAtSignin(who.account)) return show(ctx, accountSigninPromptPage({ branding, firstMethod: true }));
    const page = await alone(who, async () => {
      const r = await load(ctx, who);
      const rendered = await render(r);
      await states.save(r.account.id, r.sessionUid, r.state);
      return rendered;
    }, 3000);
    show(ctx, page);
  });

  /** A POST route: session, CSRF (constant time), then the handler; post/redirect/get, or the page again with errors. */
  function post(path: string, handler: (r: Req) => Promise<Outcome>): void {
    router.post(path, body, async (ctx) => {
      const who = await signedIn(ctx);
      // No session: the form's token belonged to a session that is gone.
      if (!who) throw new CsrfFailed();
      await alone(who, () => handle(ctx, who, handler));
    });
  }

  /** The work of a POST, alone: its state, the CSRF token, the handler; then post/redirect/get or the page with errors. */
  async function handle(ctx: Context, who: { account: AccountRecord; sessionUid: string }, handler: (r: Req) => Promise<Outcome>): Promise<void> {
    const r = await load(ctx, who);
    const sent = field(ctx, 'csrf', 100);
    if (!sent || !constantTimeEqual(sent, r.state.csrf)) throw new CsrfFailed();
    const outcome = firstMethodAtSignin(r.account) ? {} : await handler(r);
    if (outcome.errors) {
      const page = await render(r, outcome.errors);
      await states.save(r.account.id, r.sessionUid, r.state);
      return show(ctx, page, outcome.status ?? 400);
    }
    await states.save(r.account.id, r.sessionUid, r.state);
    ctx.status = 303;
    ctx.redirect(ACCOUNT_PATHS.page);
  }

  // --- step 1: the password --------------------------------------------------------------------

  const minutes = (s: number | undefined): number => Math.max(1, Math.ceil((s ?? 60) / 60));

  async function completeProof(r: Req, method: MethodKind | undefined): Promise<RecentProof> {
    const proof = await proofs.record(r.account.id, r.sessionUid, { passwordAt: r.state.passwordAt!, ...(method ? { method } : {}) });
    delete r.state.passwordAt;
    delete r.state.challenge;
    await audit.record({ type: 'security_info.proven', outcome: 'success', ...auditContext(r), details: { method: method ?? 'password_only', ...(method ? { kind: method } : {}) } });
    return proof;
  }

  post(ACCOUNT_PATHS.password, async (r) => {
    if (await proofOf(r)) return {};
    const password = field(r.ctx, 'password', 4096);
    if (!password) return { status: 400, errors: { fields: { password: t('account.password_missing') } } };
    const result = await accounts.authenticate(r.account.login, password, r.ip);
    switch (result.outcome) {
      case 'ok':
        if (result.account.id !== r.account.id) return { status: 401, errors: { fields: { password: t('account.password_wrong') } } };
        signinNotices.succeeded(r.account.id, result.failuresBefore ?? 0, { ip: r.ip });
        r.state.passwordAt = clock();
        delete r.state.challenge;
        await audit.record({ type: 'security_info.password', outcome: 'success', ...auditContext(r) });
        if (proofMethods(r.account).length === 0) await completeProof(r, undefined);
        return {};
      case 'failed':
        await audit.record({ type: 'security_info.password', outcome: 'failure', ...auditContext(r), reason: 'password_wrong' });
        if (result.lockStarted) {
          await audit.record({ ...lockoutEvent(result.lockStarted, result.target, 'password'), ...auditContext(r) });
          if (result.target.accountId) signinNotices.lockStarted(result.target.accountId, result.lockStarted, 'password', { ip: r.ip });
        }
        return { status: 401, errors: { fields: { password: t('account.password_wrong') } } };
      case 'temporary_password_expired':
        await audit.record({ type: 'security_info.password', outcome: 'failure', ...auditContext(r), reason: 'temporary_expired' });
        return { status: 401, errors: { form: t('signin.temporary_expired') } };
      case 'locked':
        await audit.record({ type: 'security_info.password', outcome: 'blocked', ...auditContext(r), reason: result.hard ? 'locked_hard' : 'locked' });
        return {
          status: 429,
          errors: { form: result.hard ? t('signin.locked_hard') : t('signin.locked', { minutes: minutes(result.retryAfterSeconds) }) },
        };
      case 'ip_throttled':
        await audit.record({ type: 'security_info.password', outcome: 'blocked', ...auditContext(r), reason: 'ip_throttled' });
        return { status: 429, errors: { form: t('signin.ip_throttled', { minutes: minutes(result.retryAfterSeconds) }) } };
    }
  });

  // --- step 2: one registered method ------------------------------------------------------------

  async function startChallenge(r: Req, record: MethodRecord, input: FormInput): Promise<Outcome> {
    const method = methods.get(record.kind)!;
    const started = await method.startChallenge(methodContext(r, 'security_info'), record as never, input);
    const event = codeEvent('security_info', record.kind, started);
    if (event) await audit.record({ ...event, ...auditContext(r) });
    if (!started.ok) return { status: started.error.id === 'send_throttled' ? 429 : 400, errors: { form: t(started.error.id, started.error.vars) } };
    r.state.challenge = {
      methodId: record.id,
      kind: record.kind,
      pending: started.value.pending,
      display: box.seal(JSON.stringify(started.value.display)),
      failures: 0,
      values: pick(input, ['channel']),
    };
    return {};
  }

  /** Writes a record the method updated (TOTP step, used recovery code) only if it is unchanged since it was verified. */
  async function saveVerified(accountId: string, verified: MethodRecord, updated: MethodRecord): Promise<void> {
    await accounts.update(accountId, (a) => {
      const list = methodsOf(a);
      const i = list.findIndex((m) => m.id === verified.id);
      if (i < 0 || JSON.stringify(list[i]) !== JSON.stringify(verified)) throw new Refused('method_state_invalid');
      list[i] = updated;
      return { ...a, methods: list };
    });
  }

  post(ACCOUNT_PATHS.verify, async (r) => {
    if (await proofOf(r)) return {};
    if (!proofs.fresh(r.state.passwordAt)) return {};
    const { state, account, ctx } = r;
    const candidates = proofMethods(account);
    switch (field(ctx, 'action', 20)) {
      case 'start': {
        const record = candidates.find((m) => m.id === field(ctx, 'methodId', 64));
        if (!record) return { status: 400, errors: { fields: { methodId: t('method_unknown') } } };
        return startChallenge(r, record, formFields(ctx));
      }
      case 'resend': {
        const ch = state.challenge;
        const record = ch && candidates.find((m) => m.id === ch.methodId);
        if (!ch || !record) {
          delete state.challenge;
          return {};
        }
        return startChallenge(r, record, ch.values ?? {});
      }
      case 'back':
        delete state.challenge;
        return {};
      case 'finish': {
        const ch = state.challenge;
        if (!ch) return { status: 400, errors: { form: t('code_expired') } };
        const record = candidates.find((m) => m.id === ch.methodId && m.kind === ch.kind);
        if (!record) {
          delete state.challenge;
          return { status: 400, errors: { form: t('method_state_invalid') } };
        }
        const fails = await store.counters.get(failKey(account.id));
        if (fails && fails.count >= PROOF_FAILURE_LIMIT && fails.resetAt > clock()) {
          delete state.challenge;
          await audit.record({ type: 'security_info.proof', outcome: 'blocked', ...auditContext(r), reason: 'too_many_failures', details: { kind: ch.kind } });
          return { status: 429, errors: { form: t('account.proof.blocked') } };
        }
        const method = methods.get(ch.kind)!;
        const verified = await method.verifyChallenge(methodContext(r, 'security_info'), record as never, ch.pending, formFields(ctx));
        if (!verified.ok) {
          await store.counters.hit(failKey(account.id), PROOF_FAILURE_WINDOW_MS);
          ch.failures += 1;
          const channel: Record<string, string> = typeof ch.pending.channel === 'string' ? { channel: ch.pending.channel } : {};
          await audit.record({ type: 'code.failed', outcome: 'failure', ...auditContext(r), reason: verified.error.id, details: { purpose: 'security_info', kind: ch.kind, ...channel } });
          await audit.record({ type: 'security_info.proof', outcome: 'failure', ...auditContext(r), reason: verified.error.id, details: { kind: ch.kind } });
          if (verified.error.final || ch.failures >= config.CODE_MAX_ATTEMPTS) {
            delete state.challenge;
            return { status: 400, errors: { form: t(verified.error.final ? verified.error.id : 'code_exhausted', verified.error.vars) } };
          }
          return { status: 400, errors: toErrors(verified.error) };
        }
        if (verified.value.updated) {
          try {
            await saveVerified(account.id, record, verified.value.updated);
          } catch (e) {
            if (!(e instanceof Refused)) throw e;
            delete state.challenge;
            return { status: 409, errors: { form: t(e.id) } };
          }
        }
        await store.counters.reset(failKey(account.id));
        await completeProof(r, ch.kind);
        return {};
      }
      default:
        return { status: 400, errors: {} };
    }
  });

  // --- changes (need a recent proof) ------------------------------------------------------------

  /**
   * One optimistic write of the account: `mutate` may throw `Refused` (nothing written). Every
   * method is marked confirmed now (the user just looked at them). Returns the account as it
   * was just before the write, for the notice's recipients.
   */
  async function change(r: Req, mutate: (a: AccountRecord) => AccountRecord): Promise<AccountRecord> {
    let before: AccountRecord | undefined;
    const now = clock();
    r.account = await accounts.update(r.account.id, (a) => {
      before = structuredClone(a);
      const next = mutate(a);
      return { ...next, methods: methodsOf(next).map((m) => ({ ...m, confirmedAt: now })) };
    });
    return before!;
  }

  async function tell(r: Req, before: AccountRecord, what: string): Promise<void> {
    await notifySecurityInfoChanged(services, before, { what, at: clock(), ip: r.ip });
  }

  const refusal = (e: unknown): Outcome => {
    if (e instanceof Refused) return { status: 409, errors: { form: t(e.id, e.vars) } };
    throw e;
  };

  async function startAdd(r: Req, kind: MethodKind, input: FormInput): Promise<FormErrors | undefined> {
    const started = await methods.get(kind)!.startRegistration(methodContext(r, 'register'), input);
    const event = codeEvent('register', kind, started);
    if (event) await audit.record({ ...event, ...auditContext(r) });
    if (!started.ok) return toErrors(started.error);
    r.state.add = { kind, pending: started.value.pending, display: box.seal(JSON.stringify(started.value.display)), values: pick(input, ['email', 'phone', 'extension', 'channel']) };
    return undefined;
  }

  post(ACCOUNT_PATHS.add, async (r) => {
    if (!(await proofOf(r))) return {};
    const { state, ctx } = r;
    const input = formFields(ctx);
    const what = field(ctx, 'action', 20);
    switch (what) {
      case 'open':
        if (available(r.account).length === 0) return { status: 400, errors: { form: t('account.add.none') } };
        state.add = {};
        return {};
      case 'cancel':
        delete state.add;
        return {};
      case 'back':
        state.add = {};
        return {};
      case 'choose': {
        state.add ??= {};
        const kind = input.kind as MethodKind | undefined;
        if (!kind || !available(r.account).includes(kind)) return { status: 400, errors: { form: t('method_unknown') } };
        if (NEEDS_INPUT.includes(kind)) {
          state.add = { kind };
          return {};
        }
        const errors = await startAdd(r, kind, {});
        return errors ? { status: 400, errors } : {};
      }
      case 'start':
      case 'resend': {
        const add = state.add;
        if (!add?.kind) return { status: 400, errors: { form: t('method_unknown') } };
        const errors = await startAdd(r, add.kind, what === 'resend' ? (add.values ?? {}) : input);
        if (errors) {
          if (what === 'start') state.add = { kind: add.kind, values: pick(input, ['email', 'phone', 'extension', 'channel']) };
          return { status: errors.form === t('send_throttled') ? 429 : 400, errors };
        }
        return {};
      }
      case 'finish': {
        const add = state.add;
        if (!add?.kind || !add.pending) return { status: 400, errors: { form: t('code_expired') } };
        const kind = add.kind;
        const finished = await methods.get(kind)!.finishRegistration(methodContext(r, 'register'), add.pending, input);
        if (!finished.ok) {
          await audit.record({ type: 'method.registration_failed', outcome: 'failure', ...auditContext(r), reason: finished.error.id, details: { kind } });
          if (finished.error.final) delete add.pending;
          add.values = { ...(add.values ?? {}), ...pickQuestions(input) };
          return { status: 400, errors: toErrors(finished.error) };
        }
        const record = finished.value;
        let before: AccountRecord;
        try {
          before = await change(r, (a) => {
            if (!available(a).includes(kind)) throw new Refused('method_not_allowed');
            return {
              ...a,
              methods: [...methodsOf(a), record],
              // An email method proven by a code also proves that address on the account.
              emails: a.emails.map((e) => (record.kind === 'email' && e.address === record.address ? { ...e, verified: true } : e)),
            };
          });
        } catch (e) {
          delete state.add;
          return refusal(e);
        }
        delete state.add;
        await audit.record({ type: 'method.registered', outcome: 'success', ...auditContext(r), details: { kind, masked: masked(record), via: 'security_info' } });
        await tell(r, before, t('account.change.added', { method: describe(record) }));
        state.notice = { id: 'account.notice.added', vars: { method: label(record) } };
        return {};
      }
      default:
        return { status: 400, errors: {} };
    }
  });

  post(ACCOUNT_PATHS.remove, async (r) => {
    if (!(await proofOf(r))) return {};
    const id = field(r.ctx, 'methodId', 64);
    let removed: MethodRecord | undefined;
    let before: AccountRecord;
    try {
      before = await change(r, (a) => {
        const list = methodsOf(a);
        const target = list.find((m) => m.id === id);
        if (!target) throw new Refused('account.remove.unknown');
        const rest = list.filter((m) => m.id !== id);
        const need = policy.requiredMethods(a);
        const usableBefore = policy.usableMethods(a).length;
        const usableAfter = policy.usableMethods({ ...a, methods: rest }).length;
        if (usableAfter < need && usableAfter < usableBefore) throw new Refused('account.remove.too_few', { need });
        removed = target;
        return { ...a, methods: rest };
      });
    } catch (e) {
      if (e instanceof Refused) {
        await audit.record({ type: 'method.removed', outcome: 'failure', ...auditContext(r), reason: e.id });
      }
      return refusal(e);
    }
    const gone = removed!;
    await audit.record({ type: 'method.removed', outcome: 'success', ...auditContext(r), details: { kind: gone.kind, masked: masked(gone) } });
    // The factor a remembered device stood for may be gone: every device asks again.
    const hadDevices = devices.list(before).length;
    const forgotten = await devices.forget(r.account.id);
    clearDeviceCookie(r);
    if (forgotten > 0) {
      await audit.record({ type: 'device.forgotten', outcome: 'success', ...auditContext(r), details: { all: true, count: forgotten, reason: 'method_removed' } });
    }
    await tell(r, before, t('account.change.removed', { method: describe(gone) }));
    r.state.notice = { id: hadDevices > 0 ? 'account.notice.removed_devices' : 'account.notice.removed', vars: { method: label(gone) } };
    return {};
  });

  post(ACCOUNT_PATHS.forgetDevice, async (r) => {
    if (!(await proofOf(r))) return {};
    const id = field(r.ctx, 'deviceId', 64);
    const device = id ? devices.list(r.account).find((d) => d.id === id) : undefined;
    // Listed, and still there at the write (another tab may have forgotten it meanwhile).
    if (!device || (await devices.forget(r.account.id, device.id)) === 0) {
      await audit.record({ type: 'device.forgotten', outcome: 'failure', ...auditContext(r), reason: 'unknown_device' });
      return { status: 409, errors: { form: t('account.devices.unknown') } };
    }
    clearDeviceCookie(r, device.id);
    await audit.record({ type: 'device.forgotten', outcome: 'success', ...auditContext(r), details: { all: false, count: 1, deviceId: device.id, label: device.label } });
    await tell(r, r.account, t('account.change.device_forgotten', { device: device.label }));
    r.state.notice = { id: 'account.notice.device_forgotten', vars: { device: device.label } };
    return {};
  });

  post(ACCOUNT_PATHS.forgetDevices, async (r) => {
    if (!(await proofOf(r))) return {};
    const listed = devices.list(r.account).length;
    // Expired and outdated entries go too; only the devices the user saw are reported.
    const forgotten = await devices.forget(r.account.id);
    clearDeviceCookie(r);
    if (forgotten > 0) await audit.record({ type: 'device.forgotten', outcome: 'success', ...auditContext(r), details: { all: true, count: forgotten } });
    if (listed === 0) return {};
    await tell(r, r.account, t('account.change.devices_forgotten', { count: listed }));
    r.state.notice = { id: 'account.notice.devices_forgotten', vars: { count: listed } };
    return {};
  });

  post(ACCOUNT_PATHS.endOtherSessions, async (r) => {
    if (!(await proofOf(r))) return {};
    const others = (await listSessions(store, r.account.id, r.account.notBefore)).filter((s) => s.uid !== r.sessionUid);
    for (const s of others) await endSession(store, s, tellRelyingParties(r.account.id));
    await audit.record({ type: 'session.ended_others', outcome: 'success', ...auditContext(r), details: { count: others.length } });
    r.state.notice = { id: 'account.notice.ended_others', vars: { count: others.length } };
    return {};
  });

  post(ACCOUNT_PATHS.endSession, async (r) => {
    if (!(await proofOf(r))) return {};
    const handle = field(r.ctx, 'session', 100);
    const session = handle ? (await listSessions(store, r.account.id, r.account.notBefore)).find((s) => s.uid !== r.sessionUid && sessionHandle(s.uid) === handle) : undefined;
    if (!session) {
      await audit.record({ type: 'session.ended', outcome: 'failure', ...auditContext(r), reason: 'unknown_session' });
      return { status: 409, errors: { form: t('account.sessions.unknown') } };
    }
    await endSession(store, session, tellRelyingParties(r.account.id));
    await audit.record({ type: 'session.ended', outcome: 'success', ...auditContext(r), details: { signedInAt: session.signedInAt } });
    r.state.notice = { id: 'account.notice.session_ended', vars: { signedIn: minute(session.signedInAt) } };
    return {};
  });

  post(ACCOUNT_PATHS.regenerate, async (r) => {
    if (!(await proofOf(r))) return {};
    const method = methods.get('recovery_codes');
    if (!method || !methodsOf(r.account).some((m) => m.kind === 'recovery_codes')) return { status: 400, errors: { form: t('account.regenerate.none') } };
    const ctx = methodContext(r, 'register');
    const started = await method.startRegistration(ctx, {});
    if (!started.ok) return { status: 400, errors: toErrors(started.error) };
    const finished = await method.finishRegistration(ctx, started.value.pending, { saved: 'yes' });
    if (!finished.ok) return { status: 400, errors: toErrors(finished.error) };
    const fresh = finished.value as RecoveryCodesMethod;
    let before: AccountRecord;
    try {
      // The new set replaces the old one in the same write: the old codes stop working at once.
      before = await change(r, (a) => {
        const list = methodsOf(a);
        const i = list.findIndex((m) => m.kind === 'recovery_codes');
        if (i < 0) throw new Refused('account.regenerate.none');
        list[i] = fresh;
        return { ...a, methods: list };
      });
    } catch (e) {
      return refusal(e);
    }
    r.state.newCodes = box.seal(JSON.stringify(started.value.display.codes ?? []));
    delete r.state.add;
    await audit.record({ type: 'recovery_codes.regenerated', outcome: 'success', ...auditContext(r), details: { count: fresh.codes.length } });
    await tell(r, before, t('account.change.regenerated'));
    return {};
  });

  post(ACCOUNT_PATHS.codesSaved, async (r) => {
    if (!(await proofOf(r)) || !r.state.newCodes) return {};
    if (field(r.ctx, 'saved', 10) !== 'yes') return { status: 400, errors: { fields: { saved: t('recovery_codes_confirm') } } };
    delete r.state.newCodes;
    r.state.notice = { id: 'account.notice.codes_saved' };
    return {};
  });

  return router;
}
