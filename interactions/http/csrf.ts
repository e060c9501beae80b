/**
 * Double-submit CSRF protection for forms outside an interaction (invitations, password
 * change, reset start): a random token in a signed, HttpOnly, SameSite=Strict cookie of its
 * own name (`Path=/`, so `__Host-` over https: src/cookie-names.ts), and the same token in a
 * hidden field, compared in constant time.
 */
import type { Context } from 'koa';
import { CsrfFailed } from '../../src/errors.ts';
import { constantTimeEqual, randomId } from '../../src/domain/secrets.ts';
import { field } from './body.ts';

const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;
const TTL_MS = 2 * 3600 * 1000;

export interface DoubleSubmit {
  /** The visitor's token (kept if the cookie already holds one); (re)sets the cookie. */
  token(ctx: Context): string;
  /** Throws CsrfFailed unless the form's `csrf` field equals the cookie. */
  check(ctx: Context): void;
  /** Drops the cookie (e.g. when the session it protected is gone). */
  clear(ctx: Context): void;
}

export function doubleSubmit(cookieName: string): DoubleSubmit {
  const options = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'strict' as const, path: '/', secure: ctx.secure, overwrite: true });
  return {
    token(ctx) {
      const existing = ctx.cookies.get(cookieName, { signed: true });
      const token = existing && TOKEN.test(existing) ? existing : randomId(18);
      ctx.cookies.set(cookieName, token, { ...options(ctx), maxAge: TTL_MS });
      return token;
    },
    check(ctx) {
      const cookie = ctx.cookies.get(cookieName, { signed: true });
      const sent = field(ctx, 'csrf', 100);
      if (!cookie || !sent || !constantTimeEqual(sent, cookie)) throw new CsrfFailed();
    },
    clear(ctx) {
      ctx.cookies.set(cookieName, null, options(ctx));
    },
  };
}
