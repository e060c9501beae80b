/**
 * rekey as its own relying party (the demo app, My security info): a lazily discovered
 * openid-client configuration for a public first-party client talking to this very issuer.
 * Discovery waits for the first request (the server is not listening at build time) and is
 * retried after a failure.
 */
import * as oidc from 'openid-client';

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
