/**
 * Every URL built from the request comes from ISSUER. oidc-provider builds the endpoint URLs
 * of its discovery document (authorization, token, JWKS, …) and its form actions from the
 * request's origin: Koa's `ctx.href`, taken from the Host header, from X-Forwarded-Host and
 * X-Forwarded-Proto behind a trusted proxy, or from an absolute-form request target
 * (`GET http://elsewhere/… HTTP/1.1`). A forged one would point relying parties at another
 * server (one shared cache answering with a poisoned discovery document is enough), and a
 * Host that is no host at all made URL building throw (a 500). So the request's origin is
 * ISSUER's, whatever arrived; the socket peer and X-Forwarded-For (client-ip.ts) are left alone.
 */
import type { Context, Next } from 'koa';
import { BadRequest } from '../../src/errors.ts';

export function pinnedOrigin(issuer: string, trustProxy: boolean) {
  const { host, protocol } = new URL(issuer);
  const scheme = protocol.slice(0, -1);
  return async function pinOrigin(ctx: Context, next: Next): Promise<void> {
    const headers = ctx.req.headers;
    headers.host = host;
    delete headers['x-forwarded-host'];
    // Koa reads the scheme from X-Forwarded-Proto only behind a trusted proxy.
    if (trustProxy) headers['x-forwarded-proto'] = scheme;
    if (!ctx.originalUrl.startsWith('/')) {
      let target: URL;
      try {
        target = new URL(ctx.originalUrl);
      } catch {
        throw new BadRequest();
      }
      const path = `${target.pathname}${target.search}`;
      ctx.url = path;
      ctx.originalUrl = path;
      ctx.request.originalUrl = path;
    }
    await next();
  };
}
