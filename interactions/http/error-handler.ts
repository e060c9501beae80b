/**
 * The one place errors become responses: our `RekeyError`s with their status and message,
 * oidc-provider's errors with theirs, anything else as a generic 500 that hides its details.
 * Browsers get an HTML page, API clients JSON.
 */
import type { Context, Next } from 'koa';
import { errors as oidcErrors } from 'oidc-provider';
import { Internal, NotFound, RekeyError, SessionExpired, StoreUnavailable } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { errorPage } from '../views/pages/error.ts';
import { hasMessage, t } from '../../src/i18n/index.ts';
import type { Branding } from '../views/layout.ts';

export function toRekeyError(err: unknown): RekeyError {
  if (err instanceof RekeyError) return err;
  if (err instanceof oidcErrors.SessionNotFound) return new SessionExpired();
  if (err instanceof oidcErrors.OIDCProviderError) {
    const e = new RekeyError(err.error, err.status, err.error_description ?? err.message);
    e.standardMessage = true;
    return e;
  }
  const status = (err as { status?: number; expose?: boolean }).status;
  if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
    return new RekeyError('bad_request', status, (err as Error).message);
  }
  return new Internal();
}

/**
 * What the user reads: the catalog text of the error's id in their language when the error
 * carries its standard message (or is oidc-provider's), else the specific message it was given.
 */
export function userMessage(e: Pick<RekeyError, 'id' | 'message' | 'standardMessage'>, branding: Branding): string {
  const key = `error.${e.id}`;
  return e.standardMessage && hasMessage(key) ? t(key, { product: branding.productName }) : e.message;
}

export function wantsJson(ctx: Context): boolean {
  return ctx.path.startsWith('/api/') || ctx.accepts('html', 'json') === 'json';
}

export function errorHandler(branding: Branding, log: Logger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      // Nothing answered: an unknown path, or a method no route of the path takes (Allow is
      // set). Our page or JSON, like every other error, not Koa's plain text.
      if (ctx.body == null && ctx.status === 404) throw new NotFound();
      if (ctx.body == null && ctx.status === 405) throw new RekeyError('method_not_allowed', 405, t('api.method_not_allowed'));
    } catch (err) {
      const e = toRekeyError(err);
      if (e instanceof Internal && !(err instanceof Internal)) {
        log.error({ err, path: ctx.path, method: ctx.method }, 'unexpected error');
      } else if (e instanceof StoreUnavailable) {
        log.error({ event: 'store_unavailable', path: ctx.path, err: (err as Error).message });
      }
      ctx.status = e.status;
      ctx.set('Cache-Control', 'no-store');
      if (e.status === 429 && typeof e.details.retryAfter === 'number') ctx.set('Retry-After', String(e.details.retryAfter));
      if (e.status === 503) ctx.set('Retry-After', '5');
      const message = userMessage(e, branding);
      if (wantsJson(ctx)) {
        ctx.body = { error: e.id, message };
      } else {
        ctx.type = 'html';
        ctx.body = errorPage(branding, message, e.id);
      }
    }
  };
}
