/** Headers every response gets; pages with secrets also get `no-store`. */
import type { Context, Next } from 'koa';

// No inline scripts or styles, nothing from elsewhere. form-action is left open on purpose:
// browsers apply it to the redirect chain after a sign-in form, which ends at the client.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

export async function securityHeaders(ctx: Context, next: Next): Promise<void> {
  await next();
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  if (ctx.response.is('html')) {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('Cache-Control', 'no-store');
  }
}

export function noStore(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}
