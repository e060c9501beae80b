/**
 * Back-channel logout when an account is signed out outside the provider's end-session
 * endpoint: a relying party registered with a backchannel_logout_uri (a real HTTP server in
 * the test) receives a logout token, verifiable with the provider's /jwks, for the session it
 * signed in with, when the password is reset through the real pages and when an admin signs
 * the account out everywhere. A relying party that answers with an error does not undo
 * anything.
 */
import assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { totpNow } from '../support/totp.ts';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import type { ClientEntry } from '../../src/provider/clients.ts';
import { seedWithMethods } from '../support/seed.ts';
import { backchannelClient, startReceiver, type Receiver } from '../support/backchannel-receiver.ts';

const OLD = 'copper-finch-sings-early';
const NEW = 'violet-harbour-kites-drift';
const BCL_SECRET = 'backchannel-rp-secret-that-is-long-enough-0123';
const DOWN_SECRET = 'broken-rp-secret-that-is-long-enough-012345678';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

for (const backend of BACKENDS) {
  describe(`back-channel logout on ${backend}`, function () {
    this.timeout(60_000);
    let t: TestApp;
    let smtp: TestSmtpServer;
    let receiver: Receiver;
    let down: Receiver;
    let bcl: RelyingParty;
    let broken: RelyingParty;
    let plain: RelyingParty;

    before(async () => {
      smtp = await startSmtpServer();
      receiver = await startReceiver(200);
      down = await startReceiver(503);
      const extra = (url: string): ClientEntry[] => [
        backchannelClient(url, { id: 'bcl-rp', secret: BCL_SECRET, name: 'Back-channel App', logoutUri: receiver.url }),
        backchannelClient(url, { id: 'down-rp', secret: DOWN_SECRET, name: 'Broken App', logoutUri: down.url }),
      ];
      t = await startTestApp(
        { SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes', SMTP_URL: smtp.url, DEV_OUTBOX: 'false' },
        {},
        backend,
        extra,
      );
      bcl = await RelyingParty.discover(t.url, t.redirectUri, 'bcl-rp', BCL_SECRET);
      broken = await RelyingParty.discover(t.url, t.redirectUri, 'down-rp', DOWN_SECRET);
      plain = await RelyingParty.discover(t.url, t.redirectUri);
    });
    after(async () => {
      await t?.close();
      await smtp?.stop();
      await receiver?.close();
      await down?.close();
    });
    beforeEach(() => {
      receiver.received.length = 0;
      down.received.length = 0;
    });

    const seed = (login: string): Promise<{ id: string; totp: string }> => seedWithMethods(t.services, login, OLD);

    /** Signs in to `rp` (with the password when the browser has no session yet); returns the ID token's claims. */
    async function signIn(browser: Browser, rp: RelyingParty, login: string, password: string) {
      const flow = await rp.start();
      let page = await browser.open(flow.url.toString(), t.redirectUri);
      if (!page.location?.startsWith(t.redirectUri)) {
        page = await browser.submit(page, formAction(page.text, '/password'), { identifier: login, password }, t.redirectUri);
      }
      assert.ok(page.location?.startsWith(t.redirectUri), `signed in to ${rp.config.clientMetadata().client_id}: ${page.text.slice(0, 300)}`);
      const tokens = await rp.finish(flow, page.location!);
      return tokens.claims()!;
    }

    async function resetPassword(login: string, totp: string): Promise<void> {
      const browser = new Browser(t.url);
      const form = await browser.open('/reset');
      const choose = await browser.submit(form, '/reset', { identifier: login });
      assert.match(choose.text, /Authenticator app/);
      const ref = /name="ref" id="ref-(m\d)" value="\1"/.exec(choose.text)![1]!;
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref });
      const newPassword = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
      assert.match(newPassword.text, /Choose a new password/);
      const done = await browser.submit(newPassword, '/reset/flow', { password: NEW, confirm: NEW });
      assert.equal(done.status, 200, done.text.slice(0, 300));
      assert.match(done.text, /Password changed/);
    }

    async function verifyLogoutToken(token: string, clientId: string): Promise<JWTPayload> {
      const jwks = createRemoteJWKSet(new URL(`${t.url}/jwks`));
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: t.url, audience: clientId, typ: 'logout+jwt' });
      assert.notEqual(protectedHeader.alg, 'none');
      return payload;
    }

    it('a password reset tells every relying party with a back-channel URI, with the session’s sid, before the sessions go', async () => {
      const { id, totp } = await seed('bea');
      const browser = new Browser(t.url);
      const idToken = await signIn(browser, bcl, 'bea', OLD);
      assert.equal(typeof idToken.sid, 'string', 'the ID token carries a sid for a back-channel client');
      // The same session also signs in to a client without a back-channel URI and to one that is failing.
      await signIn(browser, plain, 'bea', OLD);
      const brokenToken = await signIn(browser, broken, 'bea', OLD);
      assert.equal(receiver.received.length, 0);

      await resetPassword('bea', totp);

      assert.equal(receiver.received.length, 1, 'exactly one logout token for the one session');
      const [post] = receiver.received;
      assert.match(post!.contentType, /^application\/x-www-form-urlencoded/);
      const payload = await verifyLogoutToken(post!.body.get('logout_token')!, 'bcl-rp');
      assert.equal(payload.sub, id);
      assert.equal(payload.sid, idToken.sid);
      assert.deepEqual(payload.events, { [LOGOUT_EVENT]: {} });
      assert.equal(typeof payload.jti, 'string');
      assert.equal(payload.nonce, undefined, 'a logout token never carries a nonce');

      // The failing relying party was asked too; its error undid nothing.
      assert.equal(down.received.length, 1);
      const downPayload = await verifyLogoutToken(down.received[0]!.body.get('logout_token')!, 'down-rp');
      assert.equal(downPayload.sid, brokenToken.sid);
      assert.equal((await t.services.accounts.authenticate('bea', NEW, '10.9.0.1')).outcome, 'ok');
      assert.equal(await t.services.store.oidc.countByAccount('Session', id), 0);
      const again = await bcl.start();
      const page = await browser.open(again.url.toString(), t.redirectUri);
      assert.match(page.text, /<h1>Sign in<\/h1>/, 'the old session no longer signs in silently');
    });

    it('sign out everywhere tells the relying parties of every session of the account', async () => {
      const { id } = await seed('cal');
      const first = await signIn(new Browser(t.url), bcl, 'cal', OLD);
      const second = await signIn(new Browser(t.url), bcl, 'cal', OLD);
      assert.notEqual(first.sid, second.sid);

      assert.ok((await t.services.accounts.signOutEverywhere(id)) >= 2, 'at least the two sessions were revoked');

      const tokens = await Promise.all(receiver.received.map((r) => verifyLogoutToken(r.body.get('logout_token')!, 'bcl-rp')));
      assert.deepEqual(tokens.map((p) => p.sid).sort(), [first.sid, second.sid].sort());
      for (const p of tokens) assert.equal(p.sub, id);
      assert.equal(down.received.length, 0, 'a relying party the account never signed in to is not told');
      assert.equal(await t.services.store.oidc.countByAccount('Session', id), 0);
    });

    it('an account without sessions tells nobody', async () => {
      const { id } = await seed('dan');
      await t.services.accounts.signOutEverywhere(id);
      assert.equal(receiver.received.length + down.received.length, 0);
    });
  });
}
