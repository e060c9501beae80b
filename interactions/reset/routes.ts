/**
 * "Forgot password?" in the browser. Pages live under /reset, outside /interaction/: the
 * reset revokes the session its sign-in was bound to, so the end starts a fresh
 * authorization request with the original parameters instead of resuming the old one.
 * The flow is bound to the browser by a signed HttpOnly cookie holding its id and secret.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Services } from '../../src/services.ts';
import type { ResetOutcome, ResetView } from '../../src/domain/reset/reset-flows.ts';
import { randomId, constantTimeEqual } from '../../src/domain/secrets.ts';
import { CsrfFailed } from '../../src/errors.ts';
import { field, formFields, parseBody } from '../http/body.ts';
import { clientIp } from '../http/client-ip.ts';
import { noStore } from '../http/security-headers.ts';
import { t } from '../../src/i18n/index.ts';
import type { Branding } from '../views/layout.ts';
import type { FormErrors } from '../signin/stage.ts';
import { changePasswordPage } from '../views/pages/change-password.ts';
import { proofPage } from '../views/pages/security-setup.ts';
import { choosePage, continuePage, identifyPage, resetDonePage, resetExpiredPage } from '../views/pages/reset.ts';
import { doubleSubmit } from '../http/csrf.ts';
import { cookieNames } from '../../src/cookie-names.ts';

const FLOW_HANDLE = /^[A-Za-z0-9_-]{10,40}$/;
/** Authorization parameters worth replaying at "back to sign-in". */
const RETURN_PARAMS = ['client_id', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'acr_values', 'max_age', 'ui_locales', 'claims'];
const returnKey = (id: string): string => `reset-return:{r:${id}}`;

export function resetRoutes(provider: Provider, services: Services, branding: Branding): Router {
  const { resets, config, hmac, store, clock } = services;
  const router = new Router();
  const body = parseBody(config.MAX_BODY_BYTES);
  // The flow's handle and secret, and the double-submit tokens of /reset and of /reset/continue
  // (an admin-started reset, opened from the email).
  const { resetFlow: flowCookie, resetStartCsrf, resetContinueCsrf } = cookieNames(config.ISSUER);
  const cookieOpts = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'lax' as const, path: '/', secure: ctx.secure });
  const context = (ctx: Context) => ({ ip: clientIp(ctx, config.TRUST_PROXY_HOPS), userAgent: ctx.get('user-agent').slice(0, 200) });
  const flowCsrf = (handle: string, secret: string): string => hmac.digest('reset-csrf', `${handle}.${secret}`).slice(0, 32);

  function show(ctx: Context, page: string, status = 200): void {
    noStore(ctx);
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = page;
  }

  function binding(ctx: Context): { handle: string; secret: string } | undefined {
    const raw = ctx.cookies.get(flowCookie, { signed: true });
    const [handle, secret] = raw?.split('.') ?? [];
    return handle && secret ? { handle, secret } : undefined;
  }

  function errorsOf(outcome: Extract<ResetOutcome, { ok: false }>): FormErrors {
    const message = t(outcome.error.id, outcome.error.vars ?? {});
    return outcome.error.field ? { fields: { [outcome.error.field]: message } } : { form: message };
  }

  async function render(ctx: Context, b: { handle: string; secret: string }, view: ResetView, errors?: FormErrors, status = 200): Promise<void> {
    const csrf = flowCsrf(b.handle, b.secret);
    if (view.state === 'choose') return show(ctx, choosePage({ branding, csrf, view, ...(errors ? { errors } : {}) }), status);
    if (view.state === 'prove' && view.current) {
      return show(ctx, proofPage({ branding, uid: '', csrf, action: '/reset/flow', kind: view.current.kind, display: view.current.display, registering: false, ...(errors ? { errors } : {}) }), status);
    }
    if (view.state === 'new_password') {
      return show(ctx, changePasswordPage({ branding, action: '/reset/flow', csrf, login: '', minLength: services.accounts.rules.minLength, lead: t('reset.new_password_lead'), ...(errors ? { errors } : {}) }), status);
    }
    const signinUrl = view.returnTo ? `/auth?${new URLSearchParams(view.returnTo).toString()}` : undefined;
    const client = view.returnTo?.client_id ? await provider.Client.find(view.returnTo.client_id) : undefined;
    return show(
      ctx,
      resetDonePage({ branding, ...(signinUrl ? { signinUrl } : {}), ...(client?.clientName ? { appName: client.clientName } : {}), ...(view.confirmationSent !== undefined ? { confirmationSent: view.confirmationSent } : {}) }),
      status,
    );
  }

  function expiredPage(ctx: Context, id = 'reset_expired', status = 410): void {
    show(ctx, resetExpiredPage({ branding, message: t(id) }), status);
  }

  // "Forgot password?" on the sign-in page: keep the authorization request, then go to /reset.
  router.get('/interaction/:uid/forgot', async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const params: Record<string, string> = {};
    for (const name of RETURN_PARAMS) {
      const v = details.params[name];
      if (typeof v === 'string') params[name] = v;
    }
    const id = randomId(12);
    await store.ephemeral.put(returnKey(id), params, clock() + config.RESET_FLOW_TTL_MINUTES * 60_000 * 2);
    ctx.status = 303;
    ctx.redirect(`/reset?r=${id}`);
  });

  const startCsrf = doubleSubmit(resetStartCsrf);
  const continueCsrf = doubleSubmit(resetContinueCsrf);

  router.get('/reset', (ctx) => {
    const token = startCsrf.token(ctx);
    const r = typeof ctx.query.r === 'string' && /^[A-Za-z0-9_-]{1,40}$/.test(ctx.query.r) ? ctx.query.r : undefined;
    show(ctx, identifyPage({ branding, csrf: token, ...(r ? { returnId: r } : {}) }));
  });

  router.post('/reset', body, async (ctx) => {
    startCsrf.check(ctx);
    const token = startCsrf.token(ctx);
    const identifier = field(ctx, 'identifier', 320)?.trim();
    if (!identifier) {
      return show(ctx, identifyPage({ branding, csrf: token, errors: { fields: { identifier: t('signin.missing') } } }), 400);
    }
    const r = field(ctx, 'r', 40);
    const returnTo = r ? await store.ephemeral.get<Record<string, string>>(returnKey(r)) : undefined;
    const started = await resets.start(identifier, context(ctx), returnTo);
    ctx.cookies.set(flowCookie, `${started.handle}.${started.secret}`, cookieOpts(ctx));
    if (!started.outcome.ok) {
      if (started.outcome.retryAfterSeconds) ctx.set('Retry-After', String(started.outcome.retryAfterSeconds));
      return show(ctx, identifyPage({ branding, csrf: token, identifier, errors: errorsOf(started.outcome) }), started.outcome.status);
    }
    ctx.status = 303;
    ctx.redirect('/reset/flow');
  });

  router.get('/reset/flow', async (ctx) => {
    const b = binding(ctx);
    const view = b ? await resets.current(b.handle, b.secret) : undefined;
    if (!b || !view) return expiredPage(ctx);
    return render(ctx, b, view);
  });

  // The link of an admin-started reset (`rekey users reset`). GET only shows a form asking for
  // the code from the same email: mail scanners open links, so nothing happens on GET.
  router.get('/reset/continue', (ctx) => {
    const handle = typeof ctx.query.flow === 'string' ? ctx.query.flow : '';
    if (!FLOW_HANDLE.test(handle)) return expiredPage(ctx, 'reset.link_invalid', 400);
    show(ctx, continuePage({ branding, csrf: continueCsrf.token(ctx), handle }));
  });

  // The code is the flow's secret: when it matches, the flow is bound to this browser exactly
  // as POST /reset binds a flow it starts; every proof is still ahead. A wrong code binds nothing.
  router.post('/reset/continue', body, async (ctx) => {
    continueCsrf.check(ctx);
    const token = continueCsrf.token(ctx);
    const handle = field(ctx, 'flow', 40) ?? '';
    if (!FLOW_HANDLE.test(handle)) return expiredPage(ctx, 'reset.link_invalid', 400);
    const code = (field(ctx, 'code', 200) ?? '').replace(/\s+/g, '');
    const again = (message: string) => show(ctx, continuePage({ branding, csrf: token, handle, errors: { fields: { code: message } } }), 400);
    if (!code) return again(t('reset.continue_missing'));
    const view = await resets.current(handle, code);
    if (!view) return again(t('reset.continue_wrong'));
    ctx.cookies.set(flowCookie, `${handle}.${code}`, cookieOpts(ctx));
    ctx.status = 303;
    ctx.redirect('/reset/flow');
  });

  router.post('/reset/flow', body, async (ctx) => {
    const b = binding(ctx);
    if (!b) return expiredPage(ctx);
    const sent = field(ctx, 'csrf', 100);
    if (!sent || !constantTimeEqual(sent, flowCsrf(b.handle, b.secret))) throw new CsrfFailed();
    const input = formFields(ctx);
    const rc = context(ctx);
    let outcome: ResetOutcome;
    switch (field(ctx, 'action', 20)) {
      case 'choose': {
        // A mobile phone is offered twice on the choose page: `m0` (text message) and `m0.voice` (call instead).
        const voice = /^([A-Za-z0-9_-]{1,20})\.voice$/.exec(input.ref ?? '')?.[1];
        outcome = voice
          ? await resets.choose(b.handle, b.secret, voice, { ...input, ref: voice, channel: 'voice' }, rc)
          : await resets.choose(b.handle, b.secret, input.ref ?? '', input, rc);
        break;
      }
      case 'finish':
        outcome = await resets.prove(b.handle, b.secret, input, rc);
        break;
      case 'resend': {
        const view = await resets.current(b.handle, b.secret);
        outcome = view?.current ? await resets.choose(b.handle, b.secret, view.current.ref, input, rc) : { ok: false, status: 409, error: { id: 'reset_wrong_step' } };
        break;
      }
      case 'back':
        outcome = await resets.back(b.handle, b.secret);
        break;
      case undefined:
        // The new-password form (change-password page) has no action field.
        outcome = await resets.setPassword(b.handle, b.secret, input.password ?? '', input.confirm ?? '', rc);
        break;
      default:
        outcome = { ok: false, status: 400, error: { id: 'reset_wrong_step' } };
    }
    if (outcome.ok) {
      // The last step answers with its page: only this answer knows whether the confirmation
      // mail went out (a reload, or a replay, still shows the flow as done).
      if (outcome.view.state === 'done') return render(ctx, b, outcome.view);
      ctx.status = 303;
      return ctx.redirect('/reset/flow');
    }
    if (outcome.retryAfterSeconds) ctx.set('Retry-After', String(outcome.retryAfterSeconds));
    if (!outcome.view) return expiredPage(ctx, outcome.error.id, outcome.status);
    return render(ctx, b, outcome.view, errorsOf(outcome), outcome.status);
  });

  return router;
}
