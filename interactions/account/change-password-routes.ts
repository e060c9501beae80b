/**
 * "Change password" at /account/password for a signed-in user (oidc-provider's own session,
 * `Session.get`; without one, /account/login signs in first). The user enters the current
 * password (checked by `accounts.authenticate`: failures count toward the sign-in lockout,
 * the per-IP throttle applies) and the new one twice; the new one meets the same rules as
 * everywhere. On success the account is signed out everywhere — the other sessions, and this
 * one too (the page then asks to sign in again) — relying parties are told by back-channel
 * logout (the Accounts hook wired in src/app.ts), the user gets a notice by email and the
 * change is audited (`password.changed`).
 *
 * CSRF: a double-submit token, a random value in a signed HttpOnly SameSite=Strict cookie
 * of its own (src/cookie-names.ts) and the same value in a hidden field, compared in constant time.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Services } from '../../src/services.ts';
import { lockoutEvent } from '../../src/domain/accounts.ts';
import type { AccountRecord } from '../../src/store/types.ts';
import { clientIp } from '../http/client-ip.ts';
import { field, parseBody } from '../http/body.ts';
import { noStore } from '../http/security-headers.ts';
import { t } from '../../src/i18n/index.ts';
import { html } from '../views/html.ts';
import { layout, type Branding } from '../views/layout.ts';
import type { FormErrors } from '../signin/stage.ts';
import { changePasswordPage } from '../views/pages/change-password.ts';
import { ACCOUNT_PATHS } from '../views/pages/account.ts';
import { doubleSubmit } from '../http/csrf.ts';
import { cookieNames } from '../../src/cookie-names.ts';

export const CHANGE_PASSWORD_PATH = '/account/password';
/** Longest password accepted from the form (the rules have their own, lower maximum). */
const MAX_PASSWORD = 4096;

export interface ChangePasswordRoutesDeps {
  provider: Provider;
  services: Services;
  branding: Branding;
}

/** A catalog message, or the English `fallback` while the catalog has no entry for `key`. */

const minutes = (s: number | undefined): number => Math.max(1, Math.ceil((s ?? 60) / 60));

export function changePasswordRoutes({ provider, services, branding }: ChangePasswordRoutesDeps): Router {
  const { accounts, audit, notifications, signinNotices, clock, config } = services;
  const rules = accounts.rules;
  const body = parseBody(config.MAX_BODY_BYTES);
  const router = new Router();

  const csrf = doubleSubmit(cookieNames(config.ISSUER).changePasswordCsrf);
  const csrfToken = (ctx: Context): string => csrf.token(ctx);
  const checkCsrf = (ctx: Context): void => csrf.check(ctx);


  /** The signed-in account: the adapter already refuses a session older than the account's notBefore. */
  async function signedIn(ctx: Context): Promise<AccountRecord | undefined> {
    const Session = provider.Session as unknown as { get(ctx: Context): Promise<{ accountId?: string }> };
    const session = await Session.get(ctx);
    if (!session.accountId) return undefined;
    const account = await accounts.get(session.accountId);
    return account && account.status === 'active' ? account : undefined;
  }

  function show(ctx: Context, page: string, status = 200): void {
    noStore(ctx);
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = page;
  }

  function form(ctx: Context, account: AccountRecord, status = 200, errors?: FormErrors): void {
    show(
      ctx,
      changePasswordPage({
        branding,
        action: CHANGE_PASSWORD_PATH,
        csrf: csrfToken(ctx),
        login: account.login,
        minLength: rules.minLength,
        current: true,
        lead: t('account.change_password.lead'),
        submit: t('account.change_password.submit'),
        ...(errors ? { errors } : {}),
      }),
      status,
    );
  }

  function donePage(): string {
    return layout({
      title: t('account.change_password.done_title'),
      branding,
      body: html`<p role="status">${t('account.change_password.done')}</p>
<div class="actions"><a class="button" href="${ACCOUNT_PATHS.login}">${t('account.signin.button')}</a></div>`,
    });
  }

  router.get(CHANGE_PASSWORD_PATH, async (ctx) => {
    const account = await signedIn(ctx);
    if (!account) {
      noStore(ctx);
      return ctx.redirect(ACCOUNT_PATHS.login);
    }
    form(ctx, account);
  });

  router.post(CHANGE_PASSWORD_PATH, body, async (ctx) => {
    checkCsrf(ctx);
    const account = await signedIn(ctx);
    if (!account) {
      // Signed out meanwhile (or by the change itself): sign in first.
      noStore(ctx);
      ctx.status = 303;
      return ctx.redirect(ACCOUNT_PATHS.login);
    }
    const ip = clientIp(ctx, config.TRUST_PROXY_HOPS);
    const who = { accountId: account.id, actor: 'self', ip, userAgent: ctx.get('user-agent').slice(0, 200), details: { via: 'self' } };
    const current = field(ctx, 'current', MAX_PASSWORD) ?? '';
    const password = field(ctx, 'password', MAX_PASSWORD) ?? '';
    const confirm = field(ctx, 'confirm', MAX_PASSWORD) ?? '';

    const fields: Record<string, string> = {};
    if (!current) fields.current = t('account.change_password.current_missing');
    if (!password) fields.password = t('password_too_short', { min: rules.minLength });
    else if (password !== confirm) fields.confirm = t('password_mismatch');
    if (Object.keys(fields).length > 0) return form(ctx, account, 400, { fields });

    const checked = await accounts.authenticate(account.login, current, ip);
    switch (checked.outcome) {
      case 'ok':
        if (checked.account.id === account.id) {
          signinNotices.succeeded(account.id, checked.failuresBefore ?? 0, { ip });
          break;
        }
        // Another account now holds this login: not this user's password.
        await audit.record({ type: 'password.changed', outcome: 'failure', ...who, reason: 'password_wrong' });
        return form(ctx, account, 400, { fields: { current: t('account.password_wrong') } });
      case 'failed':
        await audit.record({ type: 'password.changed', outcome: 'failure', ...who, reason: 'password_wrong' });
        if (checked.lockStarted) {
          await audit.record({ ...lockoutEvent(checked.lockStarted, checked.target, 'password'), actor: 'self', ip, userAgent: who.userAgent });
          if (checked.target.accountId) signinNotices.lockStarted(checked.target.accountId, checked.lockStarted, 'password', { ip });
        }
        return form(ctx, account, 400, { fields: { current: t('account.password_wrong') } });
      case 'temporary_password_expired':
        await audit.record({ type: 'password.changed', outcome: 'failure', ...who, reason: 'temporary_password_expired' });
        return form(ctx, account, 400, { form: t('signin.temporary_expired') });
      case 'locked':
        await audit.record({ type: 'password.changed', outcome: 'blocked', ...who, reason: 'locked' });
        if (checked.retryAfterSeconds) ctx.set('Retry-After', String(checked.retryAfterSeconds));
        return form(ctx, account, 429, { form: checked.hard ? t('signin.locked_hard') : t('signin.locked', { minutes: minutes(checked.retryAfterSeconds) }) });
      case 'ip_throttled':
        await audit.record({ type: 'password.changed', outcome: 'blocked', ...who, reason: 'ip_throttled' });
        ctx.set('Retry-After', String(checked.retryAfterSeconds));
        return form(ctx, account, 429, { form: t('signin.ip_throttled', { minutes: minutes(checked.retryAfterSeconds) }) });
    }

    // Signs out everywhere: notBefore first, then back-channel logout, then the records go.
    const problem = await accounts.changePassword(account.id, password, { signOutEverywhere: true });
    if (problem) {
      await audit.record({ type: 'password.changed', outcome: 'failure', ...who, reason: problem });
      return form(ctx, account, 400, { fields: { password: t(problem, { min: rules.minLength, max: rules.maxLength }) } });
    }
    await audit.record({ type: 'password.changed', outcome: 'success', ...who });
    const updated = (await accounts.get(account.id)) ?? account;
    await notifications.passwordChanged(updated, { at: clock(), ip });
    // This session is gone with the others; so is the form's token.
    csrf.clear(ctx);
    show(ctx, donePage());
  });

  return router;
}
