/**
 * Routes of the sign-in interaction under /interaction/<uid>. GET shows the first stage the
 * account still needs (or finishes the login prompt when none is left); POST to a stage
 * processes its form and redirects back (post/redirect/get).
 */
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { Services } from '../../src/services.ts';
import { CsrfFailed, NotFound } from '../../src/errors.ts';
import { constantTimeEqual } from '../../src/domain/secrets.ts';
import { clientIp } from '../http/client-ip.ts';
import { field, parseBody } from '../http/body.ts';
import { noStore } from '../http/security-headers.ts';
import { exclusiveRecord } from '../http/step-lock.ts';
import type { LeaseHold } from '../../src/domain/lease.ts';
import { AuditBatch, withAuditBatch } from '../../src/domain/audit.ts';
import type { Branding } from '../views/layout.ts';
import { SigninStates, signinStateKey, type SigninState } from './state.ts';
import { ACR_MFA, ACR_PWD } from '../../src/provider/acr.ts';
import type { Stage, StageRequest } from './stage.ts';
import { consentPage } from '../views/pages/consent.ts';
import { cookieNames } from '../../src/cookie-names.ts';

export interface SigninRoutesDeps {
  provider: Provider;
  services: Services;
  branding: Branding;
  /** Stages of the `login` prompt, in order. */
  stages: Stage[];
  /** Stages of the `security_info` prompt (existing sessions: registration, re-confirmation). */
  securityInfoStages: Stage[];
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** Things the user knows: together they are still one factor. */
const KNOWLEDGE = new Set(['pwd', 'kba']);

/** RFC 8176: `mfa` once a factor of another kind (have/are) joined the password. */
function withMfa(amr: string[]): string[] {
  const other = amr.some((a) => !KNOWLEDGE.has(a) && a !== 'mfa');
  return amr.includes('pwd') && other && !amr.includes('mfa') ? [...amr, 'mfa'] : amr;
}

export function signinRoutes(deps: SigninRoutesDeps): Router {
  const { provider, services } = deps;
  const stagesOf = (prompt: string): Stage[] => (prompt === 'security_info' ? deps.securityInfoStages : deps.stages);
  const states = new SigninStates(services.store.ephemeral, services.hmac);
  const router = new Router({ prefix: '/interaction/:uid' });
  const body = parseBody(services.config.MAX_BODY_BYTES);
  const deviceCookie = cookieNames(services.config.ISSUER).device;
  /** The interaction lock a request holds (see `alone`): the state as read with it, and where its save goes. */
  const holds = new WeakMap<Context, { uid: string; hold: LeaseHold<SigninState> }>();
  const holdOf = (ctx: Context, uid: string): LeaseHold<SigninState> | undefined => {
    const held = holds.get(ctx);
    return held?.uid === uid ? held.hold : undefined;
  };

  async function load(ctx: Context): Promise<{ details: Details; state: SigninState; request: StageRequest }> {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params.uid) throw new NotFound();
    // Our clock, not oidc-provider's: expiry in the store is always judged by the injected clock.
    const expiresAt = services.clock() + services.config.INTERACTION_TTL_SECONDS * 1000;
    // Under the lock, the state was read with it (one store step); else read now.
    const hold = holdOf(ctx, details.uid);
    const state = hold ? states.loaded(details.uid, hold.record, expiresAt) : await states.load(details.uid, expiresAt);
    // acr_values lists acceptable values in order of preference: mfa alone is a requirement,
    // mfa with pwd a wish (met when the account has a second factor).
    const acrValues = String(details.params.acr_values ?? '').split(' ');
    const mfaRequested = acrValues.includes(ACR_MFA);
    const mfaRequired = mfaRequested && !acrValues.includes(ACR_PWD);
    // Step-up: an existing session re-opens login for the second factor only (no password again).
    // Only when the missing second factor is the sole reason: prompt=login, max_age, an id_token_hint
    // or an unavailable account still ask for the full sign-in.
    const reasons = details.prompt.reasons;
    const stepUpOnly = reasons.length > 0 && reasons.every((reason) => reason === 'acr_mfa_required');
    if (details.prompt.name === 'login' && !state.accountId && stepUpOnly && details.session?.accountId) {
      state.accountId = details.session.accountId;
      state.passed.push('password');
      state.amr = Array.isArray(details.session.amr) ? (details.session.amr as string[]).filter((a) => a !== 'mfa') : ['pwd'];
      state.stepUp = true;
    }
    // After sign-in, the security_info prompt works on the session's own account.
    if (details.prompt.name === 'security_info' && !state.accountId && details.session?.accountId) state.accountId = details.session.accountId;
    const client = await provider.Client.find(String(details.params.client_id));
    const account = state.accountId ? await services.accounts.get(state.accountId) : undefined;
    const loginHint = typeof details.params.login_hint === 'string' ? details.params.login_hint.slice(0, 320) : undefined;
    const request: StageRequest = {
      ctx,
      uid: details.uid,
      state,
      clientName: client?.clientName ?? String(details.params.client_id),
      clientId: String(details.params.client_id),
      ip: clientIp(ctx, services.config.TRUST_PROXY_HOPS),
      mfaRequested,
      mfaRequired,
      ...(account ? { account } : {}),
      ...(loginHint ? { loginHint } : {}),
    };
    return { details, state, request };
  }

  function checkCsrf(ctx: Context, state: SigninState): void {
    const sent = field(ctx, 'csrf', 100);
    if (!sent || !states.csrfMatches(String(ctx.params.uid), state, sent)) throw new CsrfFailed();
  }

  async function nextStage(prompt: string, r: StageRequest): Promise<Stage | undefined> {
    for (const stage of stagesOf(prompt)) if (await stage.needed(r)) return stage;
    return undefined;
  }

  /** Saves the state; under the lock, together with the lock's release (one store step). */
  async function save(ctx: Context, uid: string, state: SigninState): Promise<void> {
    const hold = holdOf(ctx, uid);
    await states.save(uid, state, hold ? (key, value, expiresAt) => hold.putOnRelease(key, value, expiresAt) : undefined);
  }

  /** `alongside`: store work sent together with the handing over of the result, awaited with it. */
  async function finish(ctx: Context, uid: string, state: SigninState, result: InteractionResults, alongside?: Promise<void>): Promise<void> {
    await save(ctx, uid, state);
    const handed = provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    // Both are waited for before anything is answered; the first failure is the request's.
    const [done, redirect] = await Promise.allSettled([alongside, handed]);
    if (done.status === 'rejected') throw done.reason;
    if (redirect.status === 'rejected') throw redirect.reason;
    const redirectTo = redirect.value;
    ctx.status = 303;
    ctx.redirect(redirectTo);
  }

  /** Did a remembered device stand in for the second factor this account must use? */
  function rememberedDevice(r: StageRequest, amr: string[]): boolean {
    const account = r.account;
    if (!account || amr.includes('mfa') || !services.policy.requiresSecondFactor(account)) return false;
    return services.policy.secondFactorMethods(account).length > 0 && !!services.devices.valid(account, r.ctx.cookies.get(deviceCookie, { signed: true }));
  }

  function show(ctx: Context, page: string, status = 200): void {
    noStore(ctx);
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = page;
  }

  /**
   * One request of an interaction at a time (see http/step-lock.ts), taken before its state is
   * loaded: a concurrent POST gets 409 and changes nothing, a GET waits for the one in progress.
   * The lock is taken and the state read in one store step; the state's save goes with the
   * release, and so do the request's audit events (held until then: AuditBatch).
   */
  const alone = (waitMs: number) =>
    async function oneAtATime(ctx: Context, next: Next): Promise<void> {
      const uid = String(ctx.params.uid ?? '');
      // An id that cannot be one (load() refuses it anyway) gets no key of its own.
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(uid)) return next();
      const audits = new AuditBatch(services.audit);
      try {
        await exclusiveRecord<void, SigninState>(
          services.store,
          services.clock,
          `interaction-lock:{${uid}}`,
          signinStateKey(uid),
          (hold) => {
            holds.set(ctx, { uid, hold });
            return withAuditBatch(audits, () => next());
          },
          { waitMs },
        );
      } finally {
        holds.delete(ctx);
        await audits.settled();
      }
    };
  const postAlone = alone(0);

  /** Every stage of the prompt is done: finish it (the sign-in's result goes to oidc-provider). */
  async function complete(ctx: Context, details: Details, state: SigninState, request: StageRequest): Promise<void> {
    if (details.prompt.name === 'security_info') return finish(ctx, details.uid, state, { security_info: { done: true } });
    const amr = withMfa(state.amr);
    const acr = amr.includes('mfa') ? ACR_MFA : ACR_PWD;
    const facts = { client: request.clientId, acr, amr: amr.join(','), ...(state.stepUp ? { stepUp: true } : {}) };
    if (request.mfaRequired && acr !== ACR_MFA) {
      await services.audit.record({ type: 'signin.failed', outcome: 'failure', accountId: state.accountId!, ip: request.ip, reason: 'unmet_authentication_requirements', details: facts });
      return finish(ctx, details.uid, state, { error: 'unmet_authentication_requirements', error_description: 'a multi-factor sign-in was requested and cannot be met' });
    }
    await services.audit.record({
      type: 'signin.completed',
      outcome: 'success',
      accountId: state.accountId!,
      ip: request.ip,
      details: { ...facts, rememberedDevice: rememberedDevice(request, amr) },
    });
    return finish(
      ctx,
      details.uid,
      state,
      {
        login: { accountId: state.accountId!, amr, acr, ts: Math.floor(services.clock() / 1000) },
        // "Not now" at registration holds for this sign-in: the security_info prompt must not ask again at once.
        ...(state.postponed ? { security_info: { postponed: true } } : {}),
      },
      // The account's failures are cleared in the same round trip as the result's first read;
      // a failure of either fails the request (the browser is not sent on). A sign-in after
      // several failures is told to the account's owner (after the answer).
      services.accounts.signinSucceeded(state.accountId!).then((failuresBefore) => services.signinNotices.succeeded(state.accountId!, failuresBefore, { ip: request.ip, client: request.clientName })),
    );
  }

  /**
   * Most pages only show where the interaction stands: such a GET reads and writes nothing, so
   * it needs no lock (a submission running meanwhile saves its state whole; this page shows the
   * state before or after it). Undefined when this GET would change something: it then runs
   * under the lock.
   */
  async function pageWithoutLock(ctx: Context): Promise<string | undefined> {
    const { details, state, request } = await load(ctx);
    if ((details.prompt.name !== 'login' && details.prompt.name !== 'security_info') || !states.unchanged(state)) return undefined;
    const stage = await nextStage(details.prompt.name, request);
    if (!stage || stage.startsOnRender?.(request)) return undefined;
    const page = await stage.render(request);
    // A render that changed the state after all is done again under the lock, where it is saved.
    return states.unchanged(state) ? page : undefined;
  }

  const waitForLock = alone(3000);
  router.get('/', async (ctx, next) => {
    const page = await pageWithoutLock(ctx);
    if (page !== undefined) return show(ctx, page);
    return waitForLock(ctx, next);
  }, async (ctx) => {
    const { details, state, request } = await load(ctx);
    if (details.prompt.name === 'login' || details.prompt.name === 'security_info') {
      const stage = await nextStage(details.prompt.name, request);
      if (stage) {
        // Rendering may start a step (e.g. send the bootstrap code): save after it.
        const page = await stage.render(request);
        await save(ctx, details.uid, state);
        return show(ctx, page);
      }
      return complete(ctx, details, state, request);
    }
    await save(ctx, details.uid, state);
    if (details.prompt.name === 'consent') {
      const d = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      return show(
        ctx,
        consentPage({
          branding: deps.branding,
          uid: details.uid,
          csrf: state.csrf,
          clientName: request.clientName,
          scopes: d.missingOIDCScope ?? [],
          claims: d.missingOIDCClaims ?? [],
        }),
      );
    }
    throw new NotFound();
  });

  router.post('/consent', body, postAlone, async (ctx) => {
    const { details, state } = await load(ctx);
    checkCsrf(ctx, state);
    if (details.prompt.name !== 'consent') throw new NotFound();
    const d = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    if (!grant) throw new NotFound();
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    return finish(ctx, details.uid, state, { consent: details.grantId ? {} : { grantId } });
  });

  router.post('/abort', body, postAlone, async (ctx) => {
    const { details, state, request } = await load(ctx);
    checkCsrf(ctx, state);
    await states.drop(details.uid);
    await services.audit.record({
      type: 'signin.failed',
      outcome: 'failure',
      ...(state.accountId ? { accountId: state.accountId } : {}),
      ip: request.ip,
      reason: 'aborted',
      details: { client: request.clientId, prompt: details.prompt.name },
    });
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  router.post('/:stage', body, postAlone, async (ctx) => {
    const { details, state, request } = await load(ctx);
    checkCsrf(ctx, state);
    if (details.prompt.name !== 'login' && details.prompt.name !== 'security_info') throw new NotFound();
    const stage = await nextStage(details.prompt.name, request);
    // Only the stage that is due may be submitted: no skipping ahead, no replaying a passed one.
    if (!stage || stage.name !== ctx.params.stage) {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${details.uid}`);
    }
    const result = await stage.submit(request);
    if (!result.done && !result.again) {
      await save(ctx, details.uid, state);
      return show(ctx, await stage.render(request, result.errors), result.status);
    }
    // The last stage done (a password alone, or the second factor): finish here rather than
    // redirect to the page only to finish there, one request less per sign-in.
    if (result.done && state.accountId) {
      // The next stages are judged on the account as it is now: this stage may have changed it
      // (the password stage hands over the record it has just read).
      const account = stage.name === 'password' && request.account ? request.account : await services.accounts.get(state.accountId);
      if (account && (await nextStage(details.prompt.name, { ...request, account })) === undefined) {
        return complete(ctx, details, state, { ...request, account });
      }
    }
    await save(ctx, details.uid, state);
    ctx.status = 303;
    ctx.redirect(`/interaction/${details.uid}`);
  });

  return router;
}
