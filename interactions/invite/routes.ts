/**
 * The invitation page at /invite. GET only shows the form (mail scanners open links); POST
 * accepts the invitation. The page lives outside any sign-in, so its CSRF protection is a
 * double-submit token: a random value in a signed HttpOnly SameSite=Strict cookie and the
 * same value in a hidden field, compared in constant time.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../../src/services.ts';
import { Invitations } from '../../src/domain/invitations.ts';
import { clientIp } from '../http/client-ip.ts';
import { field, parseBody } from '../http/body.ts';
import { noStore } from '../http/security-headers.ts';
import { t } from '../../src/i18n/index.ts';
import type { Branding } from '../views/layout.ts';
import { inviteDonePage, invitePage, type InviteFormErrors } from '../views/pages/invite.ts';
import { doubleSubmit } from '../http/csrf.ts';
import { cookieNames } from '../../src/cookie-names.ts';

export function inviteRoutes(services: Services, branding: Branding): Router {
  const router = new Router();
  const invitations = new Invitations(services);
  const rules = services.accounts.rules;
  const body = parseBody(services.config.MAX_BODY_BYTES);

  const csrf = doubleSubmit(cookieNames(services.config.ISSUER).inviteCsrf);
  const csrfToken = (ctx: Context): string => csrf.token(ctx);
  const checkCsrf = (ctx: Context): void => csrf.check(ctx);


  function show(ctx: Context, page: string, status = 200): void {
    noStore(ctx);
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = page;
  }

  function form(ctx: Context, status: number, values: { identifier?: string; code?: string; errors?: InviteFormErrors }): void {
    show(
      ctx,
      invitePage({
        branding,
        csrf: csrfToken(ctx),
        minLength: rules.minLength,
        ...(values.identifier ? { identifier: values.identifier } : {}),
        ...(values.code ? { code: values.code } : {}),
        ...(values.errors ? { errors: values.errors } : {}),
      }),
      status,
    );
  }

  router.get('/invite', (ctx) => {
    const login = typeof ctx.query.login === 'string' ? ctx.query.login.trim().slice(0, 320) : undefined;
    form(ctx, 200, login ? { identifier: login } : {});
  });

  router.post('/invite', body, async (ctx) => {
    checkCsrf(ctx);
    const identifier = (field(ctx, 'identifier', 320) ?? '').trim();
    const code = (field(ctx, 'code', 100) ?? '').trim();
    const password = field(ctx, 'password', 65_536) ?? '';
    const confirm = field(ctx, 'confirm', 65_536) ?? '';

    const fields: InviteFormErrors['fields'] = {};
    if (!identifier) fields.identifier = t('invite.missing_identifier');
    if (!code) fields.code = t('invite.missing_code');
    if (!password) fields.password = t('password_too_short', { min: rules.minLength });
    else if (password !== confirm) fields.confirm = t('password_mismatch');
    if (Object.keys(fields).length > 0) return form(ctx, 400, { identifier, errors: { fields } });

    const result = await invitations.accept(identifier, code, password, clientIp(ctx, services.config.TRUST_PROXY_HOPS));
    switch (result.outcome) {
      case 'accepted':
        return show(ctx, inviteDonePage(branding));
      case 'password':
        return form(ctx, 400, {
          identifier,
          code,
          errors: { fields: { password: t(result.problem, { min: rules.minLength, max: rules.maxLength }) } },
        });
      case 'busy':
        return form(ctx, 409, { identifier, errors: { form: t('error.busy') } });
      case 'throttled':
        ctx.set('Retry-After', String(result.retryAfterSeconds));
        return form(ctx, 429, { identifier, errors: { form: t('invite.throttled', { minutes: Math.ceil(result.retryAfterSeconds / 60) }) } });
      default:
        return form(ctx, 400, { identifier, errors: { form: t('invite.invalid') } });
    }
  });

  return router;
}
