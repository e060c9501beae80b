/**
 * Scale-out: several rekey processes on one shared Redis (and on a Redis Cluster) complete one
 * sign-in while the browser and the relying party hop to another process at every request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { parseConfig } from '../../src/config/load.ts';
import { createServices } from '../../src/services.ts';
import { freePort } from '../support/redis.ts';
import { BACKENDS, RP_SECRET, backendEnv } from '../support/test-app.ts';
import { HoppingBrowser, sharedRekeyEnv, startRekeyProcess, type RekeyProcess } from '../support/rekey-process.ts';

const PASSWORD = 'granite-comet-drifts-slowly';

for (const backend of BACKENDS.filter((b) => b !== 'sqlite')) {
  describe(`three rekey processes on one ${backend}`, function () {
    this.timeout(90_000);
    const children: RekeyProcess[] = [];
    let dir: string;
    let ports: number[];
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rekey-multi-'));
      ports = [await freePort(), await freePort(), await freePort()];
      const store = await backendEnv(backend);
      cleanup = store.cleanup;
      env = sharedRekeyEnv(dir, `http://127.0.0.1:${ports[0]}`, store.env);
      const services = await createServices(parseConfig({ ...env, DATA_DIR: dir }));
      await services.accounts.create({ login: 'mia', email: 'mia@example.com', password: PASSWORD });
      await services.close();
      children.push(...(await Promise.all(ports.map((port, i) => startRekeyProcess({ ...env, DATA_DIR: join(dir, `p${i}`) }, { port })))));
    });

    after(async () => {
      await Promise.all(children.map((c) => c.kill('SIGKILL')));
      await cleanup?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it('completes authorization, sign-in, token, userinfo and refresh with every request on another process', async () => {
      const browser = new HoppingBrowser(() => ports);
      const issuer = env.ISSUER!;
      const redirectUri = `${issuer}/test-rp/callback`;
      const hopFetch = ((input: string | URL, init: RequestInit) => fetch(browser.hop(input.toString()), init)) as unknown as oidc.CustomFetch;
      const config = await oidc.discovery(new URL(issuer), 'test-rp', RP_SECRET, oidc.ClientSecretBasic(RP_SECRET), {
        execute: [oidc.allowInsecureRequests],
        [oidc.customFetch]: hopFetch,
      });
      config[oidc.customFetch] = hopFetch;
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });

      let res = await browser.request(url.toString());
      while (res.location && !res.location.startsWith(redirectUri)) res = await browser.request(res.location);
      assert.equal(res.status, 200);
      assert.match(res.text, /<h1>Sign in<\/h1>/);
      const csrf = /name="csrf" value="([^"]+)"/.exec(res.text)![1]!;
      const action = /action="([^"]*\/password)"/.exec(res.text)![1]!;
      res = await browser.request(new URL(action, issuer).toString(), { method: 'POST', form: { csrf, identifier: 'mia', password: PASSWORD } });
      while (res.location && !res.location.startsWith(redirectUri)) res = await browser.request(res.location);
      assert.ok(res.location?.startsWith(redirectUri), `the sign-in reached the client: ${res.status} ${res.text.slice(0, 300)}`);

      const tokens = await oidc.authorizationCodeGrant(config, new URL(res.location!), { pkceCodeVerifier: verifier, expectedState: state });
      assert.equal(tokens.claims()!.email, 'mia@example.com');
      const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
      assert.equal(info.email, 'mia@example.com');
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      assert.ok(refreshed.access_token);
    });
  });
}
