/** A real relying party: openid-client doing authorization code + PKCE against the test app. */
import * as oidc from 'openid-client';
import { RP_SECRET } from './test-app.ts';

export interface RpFlow {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export class RelyingParty {
  private constructor(
    readonly config: oidc.Configuration,
    readonly redirectUri: string,
  ) {}

  static async discover(issuer: string, redirectUri: string, clientId = 'test-rp', secret = RP_SECRET): Promise<RelyingParty> {
    const config = await oidc.discovery(new URL(issuer), clientId, secret, oidc.ClientSecretBasic(secret), {
      execute: [oidc.allowInsecureRequests],
    });
    return new RelyingParty(config, redirectUri);
  }

  async start(params: Record<string, string> = {}): Promise<RpFlow> {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(this.config, {
      redirect_uri: this.redirectUri,
      scope: 'openid email profile groups offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    return { url, verifier, state, nonce };
  }

  finish(flow: RpFlow, callbackUrl: string) {
    return oidc.authorizationCodeGrant(this.config, new URL(callbackUrl), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
  }

  refresh(refreshToken: string) {
    return oidc.refreshTokenGrant(this.config, refreshToken);
  }

  userinfo(accessToken: string, sub: string) {
    return oidc.fetchUserInfo(this.config, accessToken, sub);
  }
}
