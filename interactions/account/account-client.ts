/**
 * The internal first-party client of "My security info" (/account/security): a public client
 * (authorization code + PKCE, no secret) whose only redirect URI is rekey's own
 * /account/callback. It is always registered, like a relying party of rekey itself.
 */
import type { ClientEntry } from '../../src/provider/clients.ts';

export const ACCOUNT_CLIENT_ID = 'rekey-account';

export function accountClient(issuer: string): ClientEntry {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    public: true,
    name: 'My security info',
    redirect_uris: [`${issuer}/account/callback`],
    first_party: true,
    post_logout_redirect_uris: [],
    // Only to learn that the browser signed in: no refresh tokens.
    grant_types: ['authorization_code'],
  };
}
