/**
 * rekey as its own relying party (the demo app, My security info): a lazily discovered
 * openid-client configuration for a public first-party client talking to this very issuer.
 * Discovery waits for the first request (the server is not listening at build time) and is
 * retried after a failure.
 */
import type { Context } from 'koa';
import * as oidc from 'openid-client';
import type { Clock, EphemeralStore } from '../../src/store/types.ts';
import { randomId } from '../../src/domain/secrets.ts';
import { noStore } from './security-headers.ts';

export function selfClient(issuer: string, clientId: string): () => Promise<oidc.Configuration> {
  let discovered: Promise<oidc.Configuration> | undefined;
  return () => {
    discovered ??= oidc
      .discovery(new URL(issuer), clientId, { token_endpoint_auth_method: 'none' }, oidc.None(), {
        execute: issuer.startsWith('http:') ? [oidc.allowInsecureRequests] : [],
      })
      .catch((e: unknown) => {
        discovered = undefined;
        throw e;
      });
    return discovered;
  };
}

/** The transaction between /…/login and /…/callback, kept server-side under a random id. */
interface LoginTx {
  verifier: string;
  state: string;
}

export interface SelfLoginOptions {
  issuer: string;
  clientId: string;
  /** Names the store key (`<name>-login:{id}`). */
  name: string;
  /** The transaction's cookie (`accountTx`, `adminTx` of src/cookie-names.ts; `Path=/`). */
  cookie: string;
  /** Where the code comes back, below ISSUER. */
  callbackPath: string;
  ttlMs: number;
  store: Pick<EphemeralStore, 'put' | 'consume'>;
  clock: Clock;
}

export interface SelfLogin {
  /** Redirects to the authorization endpoint (code + PKCE, scope openid, plus `params`). */
  start(ctx: Context, params?: Record<string, string>): Promise<void>;
  /**
   * Redeems the code of the callback: the token response, or undefined when the transaction is
   * unknown, expired or already used. Errors of the authorization response are thrown as
   * openid-client's (`AuthorizationResponseError`).
   */
  finish(ctx: Context): Promise<(oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers) | undefined>;
}

/** The sign-in of one of rekey's own first-party clients (My security info, the admin dashboard). */
export function selfLogin(o: SelfLoginOptions): SelfLogin {
  const configuration = selfClient(o.issuer, o.clientId);
  const { cookie } = o;
  const key = (id: string): string => `${o.name}-login:{${id}}`;
  const cookieOptions = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'lax' as const, path: '/', secure: ctx.secure });
  return {
    async start(ctx, params = {}) {
      const conf = await configuration();
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const id = randomId(18);
      await o.store.put(key(id), { verifier, state } satisfies LoginTx, o.clock() + o.ttlMs);
      ctx.cookies.set(cookie, id, { ...cookieOptions(ctx), maxAge: o.ttlMs });
      noStore(ctx);
      ctx.redirect(
        oidc
          .buildAuthorizationUrl(conf, {
            redirect_uri: `${o.issuer}${o.callbackPath}`,
            scope: 'openid',
            code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
            code_challenge_method: 'S256',
            state,
            ...params,
          })
          .toString(),
      );
    },
    async finish(ctx) {
      noStore(ctx);
      const id = ctx.cookies.get(cookie, { signed: true });
      ctx.cookies.set(cookie, null, cookieOptions(ctx));
      // Single use: the transaction is consumed whatever happens next.
      const tx = id ? await o.store.consume<LoginTx>(key(id)) : undefined;
      if (!tx) return undefined;
      const conf = await configuration();
      // Built from ISSUER, never from the Host header. Checks state, iss, PKCE and the ID token.
      return oidc.authorizationCodeGrant(conf, new URL(ctx.originalUrl, `${o.issuer}/`), { pkceCodeVerifier: tx.verifier, expectedState: tx.state });
    },
  };
}
