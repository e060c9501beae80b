/** Headers every response gets; pages with secrets also get `no-store`. */
import type { Context, Next } from 'koa';

// No inline scripts or styles, nothing from elsewhere. form-action is left open on purpose:
// browsers apply it to the redirect chain after a sign-in form, which ends at the client.
// An operator's external logo (LOGO_URL) is the one other origin a page may load from.
function contentSecurityPolicy(imgOrigin?: string): string {
  return `default-src 'none'; style-src 'self'; img-src 'self' data:${imgOrigin ? ` ${imgOrigin}` : ''}; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'`;
}

export function securityHeaders(options: { imgOrigin?: string } = {}) {
  const csp = contentSecurityPolicy(options.imgOrigin);
  return async function setSecurityHeaders(ctx: Context, next: Next): Promise<void> {
    // Set before the page is made: the pages oidc-provider renders itself (the form_post
    // response, the sign-out confirmation without a session) add the hash of their one inline
    // script to it, and that script alone may run.
    ctx.set('Content-Security-Policy', csp);
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (ctx.response.is('html')) {
      if (!ctx.response.get('Content-Security-Policy')) ctx.set('Content-Security-Policy', csp);
      ctx.set('Cache-Control', 'no-store');
    } else if (ctx.response.is('image/svg+xml')) {
      // An SVG opened directly is a document of our origin: it may draw, never run script.
      ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox");
    }
  };
}

export function noStore(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}
