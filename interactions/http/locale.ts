/**
 * Chooses the language of each request and runs the rest of the request in it: the relying
 * party's `ui_locales` (remembered in a cookie for the pages of that sign-in), then the
 * browser's `Accept-Language`, then DEFAULT_LOCALE.
 */
import type { Context, Next } from 'koa';
import { pickLocale, withLocale, type Locale } from '../../src/i18n/index.ts';

export function localeMiddleware(options: { defaultLocale: Locale; secureCookie: boolean; /** `locale` of src/cookie-names.ts */ cookieName: string }) {
  return async function chooseLocale(ctx: Context, next: Next): Promise<void> {
    const uiLocales = typeof ctx.query.ui_locales === 'string' ? ctx.query.ui_locales : undefined;
    const requested = pickLocale(uiLocales, 'ui_locales');
    if (requested) {
      ctx.cookies.set(options.cookieName, requested, { httpOnly: true, sameSite: 'lax', path: '/', secure: options.secureCookie, signed: false, overwrite: true });
    }
    const locale =
      requested ??
      pickLocale(ctx.cookies.get(options.cookieName, { signed: false }), 'ui_locales') ??
      pickLocale(ctx.get('accept-language'), 'accept-language') ??
      options.defaultLocale;
    ctx.set('Content-Language', locale);
    ctx.vary('Accept-Language');
    await withLocale(locale, next);
  };
}
