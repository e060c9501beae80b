/**
 * The internal first-party client of the admin dashboard (/admin): a public client
 * (authorization code + PKCE) whose only redirect URI is rekey's own /admin/callback. It asks
 * for a fresh sign-in with a second factor every time (`prompt=login`, `acr_values` mfa).
 */
import type { ClientEntry } from '../../src/provider/clients.ts';

export const ADMIN_CLIENT_ID = 'rekey-admin';

export function adminClient(issuer: string): ClientEntry {
  return {
    client_id: ADMIN_CLIENT_ID,
    public: true,
    name: 'Admin dashboard',
    redirect_uris: [`${issuer}/admin/callback`],
    first_party: true,
    post_logout_redirect_uris: [],
    grant_types: ['authorization_code'],
  };
}
