/** The built-in demo relying party's client registration (development only). */
import type { ClientEntry } from '../../src/provider/clients.ts';

export const DEMO_CLIENT_ID = 'demo-app';

export function demoClient(issuer: string): ClientEntry {
  return {
    client_id: DEMO_CLIENT_ID,
    public: true,
    name: 'rekey demo app',
    redirect_uris: [`${issuer}/demo/callback`],
    first_party: true,
    post_logout_redirect_uris: [`${issuer}/`],
    grant_types: ['authorization_code', 'refresh_token'],
  };
}
