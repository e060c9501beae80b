/**
 * The read-only admin dashboard at /admin: the report (coverage, resets, sign-ins, throttling)
 * with charts, and the recent audit events. rekey is its own relying party here: /admin/login
 * starts an authorization request as the internal client `rekey-admin` with `prompt=login` and
 * `acr_values` mfa, /admin/callback redeems the code and checks the ID token says an active
 * admin proved a second factor. Anyone else is refused (and audited); nothing here changes
 * anything but the dashboard's own session.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import * as oidc from 'openid-client';
import type { Services } from '../../src/services.ts';
import { ACR_MFA } from '../../src/provider/acr.ts';
import { buildReport } from '../../src/domain/report.ts';
import { AUDIT_OUTCOMES, detailsText, findAuditEvents, isTypePattern } from '../../src/domain/audit-query.ts';
import { BadRequest } from '../../src/errors.ts';
import { t } from '../../src/i18n/index.ts';
import { parseBody } from '../http/body.ts';
import { doubleSubmit } from '../http/csrf.ts';
import { noStore } from '../http/security-headers.ts';
import { selfLogin } from '../http/self-client.ts';
import { cookieNames } from '../../src/cookie-names.ts';
import type { Branding } from '../views/layout.ts';
import { adminAuditPage, adminDashboardPage, adminRefusedPage, adminSignedOutPage, type AuditRow } from '../views/pages/admin.ts';
import { ADMIN_CLIENT_ID } from './admin-client.ts';
import { AdminSessions } from './admin-sessions.ts';

export const ADMIN_PATHS = {
  dashboard: '/admin',
  audit: '/admin/audit',
  login: '/admin/login',
  callback: '/admin/callback',
  logout: '/admin/logout',
} as const;

const TX_TTL_MS = 15 * 60 * 1000;
const AUDIT_PAGE_DAYS = 30;

type Refusal = 'not_admin' | 'no_second_factor' | 'failed';

export function adminRoutes({ services, branding }: { services: Services; branding: Branding }): Router {
  const { config, store, clock, accounts, audit } = services;
  const issuer = config.ISSUER;
  const cookieName = cookieNames(issuer);
  const sessions = new AdminSessions(store.ephemeral, accounts, clock, config.ADMIN_SESSION_MINUTES * 60_000, cookieName.adminSession);
  const csrf = doubleSubmit(cookieName.adminCsrf);
  const body = parseBody(config.MAX_BODY_BYTES);
  const login = selfLogin({ issuer, clientId: ADMIN_CLIENT_ID, name: 'admin', cookie: cookieName.adminTx, callbackPath: ADMIN_PATHS.callback, ttlMs: TX_TTL_MS, store: store.ephemeral, clock });
  const router = new Router();

  function show(ctx: Context, page: string, status = 200): void {
    noStore(ctx);
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = page;
  }

  async function refuse(ctx: Context, reason: Refusal, accountId?: string): Promise<void> {
    await audit.record({
      type: 'admin.dashboard.signin',
      outcome: 'failure',
      reason,
      ...(accountId ? { accountId } : {}),
    });
    show(ctx, adminRefusedPage({ branding, reason }), 403);
  }

  // A fresh password and a second factor, whatever session the browser has.
  router.get(ADMIN_PATHS.login, (ctx) => login.start(ctx, { prompt: 'login', acr_values: ACR_MFA }));

  router.get(ADMIN_PATHS.callback, async (ctx) => {
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await login.finish(ctx);
      if (!tokens) throw new BadRequest(t('admin.signin_expired'));
      claims = tokens.claims();
    } catch (e) {
      if (e instanceof BadRequest) throw e;
      if (e instanceof oidc.AuthorizationResponseError && e.error === 'unmet_authentication_requirements') return refuse(ctx, 'no_second_factor');
      if (e instanceof oidc.AuthorizationResponseError && e.error === 'access_denied') return void ctx.redirect(ADMIN_PATHS.dashboard);
      services.log.warn({ event: 'admin_signin_failed', err: (e as Error).message });
      return refuse(ctx, 'failed');
    }
    const account = claims?.sub ? await accounts.get(claims.sub) : undefined;
    if (!account || !account.admin || account.status !== 'active') return refuse(ctx, 'not_admin', account?.id);
    const amr = Array.isArray(claims?.amr) ? claims.amr : [];
    if (claims?.acr !== ACR_MFA || !amr.includes('mfa')) return refuse(ctx, 'no_second_factor', account.id);
    await sessions.start(ctx, account.id);
    await audit.record({ type: 'admin.dashboard.signin', outcome: 'success', accountId: account.id });
    ctx.status = 303;
    ctx.redirect(ADMIN_PATHS.dashboard);
  });

  router.get(ADMIN_PATHS.dashboard, async (ctx) => {
    const session = await sessions.current(ctx);
    if (!session) return void ctx.redirect(ADMIN_PATHS.login);
    const days = Number(ctx.query.days) === 7 || Number(ctx.query.days) === 90 ? Number(ctx.query.days) : 30;
    const report = await buildReport(services, { days, now: clock() });
    show(ctx, adminDashboardPage({ branding, csrf: csrf.token(ctx), admin: session.account.login, report, days }));
  });

  router.get(ADMIN_PATHS.audit, async (ctx) => {
    const session = await sessions.current(ctx);
    if (!session) return void ctx.redirect(ADMIN_PATHS.login);
    const type = typeof ctx.query.type === 'string' && isTypePattern(ctx.query.type.trim()) ? ctx.query.type.trim() : '';
    const outcome = AUDIT_OUTCOMES.find((o) => o === ctx.query.outcome);
    // A bare type also finds its sub-types: "reset" lists reset.started, reset.completed, …
    const types = type ? [type, ...(type.endsWith('*') ? [] : [`${type}.*`])] : [];
    // A page load reads at most the last AUDIT_PAGE_DAYS of the trail, however rare the match.
    const events = await findAuditEvents(audit, { types, ...(outcome ? { outcome } : {}), since: clock() - AUDIT_PAGE_DAYS * 86_400_000, limit: 200 });
    const logins = new Map<string, string>();
    for (const accountId of new Set(events.flatMap((e) => (e.accountId ? [e.accountId] : [])))) {
      logins.set(accountId, (await accounts.get(accountId))?.login ?? accountId);
    }
    const rows: AuditRow[] = events.map((e) => ({
      at: e.at,
      type: e.type,
      outcome: e.outcome,
      account: e.accountId ? (logins.get(e.accountId) ?? '') : '',
      actor: e.actor ?? '',
      ip: e.ip ?? '',
      reason: e.reason ?? '',
      details: detailsText(e.details),
    }));
    show(ctx, adminAuditPage({ branding, csrf: csrf.token(ctx), admin: session.account.login, rows, type, outcome: outcome ?? '', days: AUDIT_PAGE_DAYS }));
  });

  router.post(ADMIN_PATHS.logout, body, async (ctx) => {
    csrf.check(ctx);
    await sessions.end(ctx);
    csrf.clear(ctx);
    show(ctx, adminSignedOutPage({ branding }));
  });

  return router;
}
