/**
 * "Change password" at /account/password for a signed-in user, through HTTP with a real SMTP
 * server: the current password is checked (failures count toward the lockout), the new one
 * meets the usual rules, and a change signs the account out everywhere (other browsers, this
 * one, relying parties by back-channel logout), tells the user and is audited.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import type { ClientEntry } from '../../src/provider/clients.ts';

const OLD = 'copper-finch-sings-early';
const NEW = 'violet-harbour-kites-drift';
const BCL_SECRET = 'backchannel-rp-secret-that-is-long-enough-0123';
const PATH = '/account/password';

for (const backend of BACKENDS) {
  describe(`change password when signed in on ${backend}`, function () {
    this.timeout(60_000);
    let t: TestApp;
    let rp: RelyingParty;
    let bcl: RelyingParty;
    let smtp: TestSmtpServer;
    let receiver: Server;
    let logoutTokens: string[];

    before(async () => {
      smtp = await startSmtpServer();
      logoutTokens = [];
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString('utf8')));
        req.on('end', () => {
          const token = new URLSearchParams(body).get('logout_token');
          if (token) logoutTokens.push(token);
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      const logoutUri = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/logout`;
      const extra = (url: string): ClientEntry[] => [
        {
          client_id: 'bcl-rp',
          client_secret: BCL_SECRET,
          public: false,
          redirect_uris: [`${url}/test-rp/callback`],
          first_party: true,
          post_logout_redirect_uris: [],
          backchannel_logout_uri: logoutUri,
          grant_types: ['authorization_code', 'refresh_token'],
        },
      ];
      t = await startTestApp({ SMTP_URL: smtp.url, DEV_OUTBOX: 'false' }, {}, backend, extra);
      rp = await RelyingParty.discover(t.url, t.redirectUri);
      bcl = await RelyingParty.discover(t.url, t.redirectUri, 'bcl-rp', BCL_SECRET);
    });
    after(async () => {
      await t?.close();
      await smtp?.stop();
      receiver?.closeAllConnections();
      await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    });

    async function create(login: string): Promise<string> {
      const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: OLD });
      return account.id;
    }

    /** A browser with a session of `login` (signed in to `client`). */
    async function signedIn(login: string, client: RelyingParty = rp): Promise<Browser> {
      const browser = new Browser(t.url);
      const flow = await client.start();
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: login, password: OLD }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), done.text.slice(0, 300));
      await client.finish(flow, done.location!);
      return browser;
    }

    /** Does this browser's session still sign in silently? */
    async function silent(browser: Browser): Promise<boolean> {
      const flow = await rp.start();
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      return !!page.location?.startsWith(t.redirectUri);
    }

    async function openForm(browser: Browser): Promise<Page> {
      const form = await browser.open(PATH);
      assert.equal(form.status, 200, form.text.slice(0, 300));
      assert.match(form.text, /Current password/);
      assert.match(form.text, /autocomplete="current-password"/);
      return form;
    }

    const send = (browser: Browser, form: Page, fields: Record<string, string>) => browser.submit(form, PATH, fields);

    it('without a session sends the user to sign in first', async () => {
      const page = await new Browser(t.url).get(PATH);
      assert.equal(page.status, 302);
      assert.equal(page.location, '/account/login');
    });

    it('refuses a form without the CSRF cookie, or with another token', async () => {
      await create('ida');
      const browser = await signedIn('ida');
      const form = await openForm(browser);
      const stranger = new Browser(t.url);
      const forged = await stranger.post(PATH, { csrf: hiddenValue(form.text, 'csrf'), current: OLD, password: NEW, confirm: NEW });
      assert.equal(forged.status, 403);
      const wrong = await browser.post(PATH, { csrf: 'x'.repeat(24), current: OLD, password: NEW, confirm: NEW });
      assert.equal(wrong.status, 403);
      assert.equal((await t.services.accounts.authenticate('ida', OLD, '10.2.0.1')).outcome, 'ok', 'nothing changed');
    });

    it('a wrong current password is refused and counts toward the lockout; weak, reused or mismatched new ones change nothing', async () => {
      const id = await create('jon');
      const browser = await signedIn('jon');
      const form = await openForm(browser);
      assert.equal(await t.services.accounts.failures(id), 0);

      const wrong = await send(browser, form, { current: 'not-my-password-at-all', password: NEW, confirm: NEW });
      assert.equal(wrong.status, 400);
      assert.match(wrong.text, /id="current-error"[^>]*>The password is not right\./);
      assert.equal(await t.services.accounts.failures(id), 1, 'the failure counts toward the sign-in lockout');

      const missing = await send(browser, wrong, { current: '', password: NEW, confirm: NEW });
      assert.equal(missing.status, 400);
      assert.match(missing.text, /id="current-error"/);
      const mismatch = await send(browser, missing, { current: OLD, password: NEW, confirm: `${NEW}x` });
      assert.equal(mismatch.status, 400);
      assert.match(mismatch.text, /id="confirm-error"[^>]*>The two passwords do not match\./);
      const weak = await send(browser, mismatch, { current: OLD, password: 'qwertyuiop12345', confirm: 'qwertyuiop12345' });
      assert.equal(weak.status, 400);
      assert.match(weak.text, /id="password-error"[^>]*>This password is too common/);
      const reused = await send(browser, weak, { current: OLD, password: OLD, confirm: OLD });
      assert.equal(reused.status, 400);
      assert.match(reused.text, /id="password-error"[^>]*>You used this password before/);

      assert.equal(await silent(browser), true, 'still signed in');
      assert.equal((await t.services.accounts.authenticate('jon', OLD, '10.2.0.2')).outcome, 'ok', 'nothing changed');
      const events = (await t.services.audit.recent({ limit: 100 })).filter((e) => e.accountId === id && e.type === 'password.changed');
      assert.deepEqual(events.map((e) => e.reason).sort(), ['password_common', 'password_reused', 'password_wrong']);
      assert.ok(events.every((e) => e.outcome === 'failure'));
    });

    it('a change signs out every session and relying party, and the user is told', async () => {
      const id = await create('kim');
      const other = await signedIn('kim', bcl);
      const browser = await signedIn('kim');
      const form = await openForm(browser);
      logoutTokens.length = 0;
      const sentBefore = smtp.messages.length;

      const done = await send(browser, form, { current: OLD, password: NEW, confirm: NEW });
      assert.equal(done.status, 200, done.text.slice(0, 500));
      assert.match(done.text, /Password changed\. Sign in again with your new password\./);
      assert.match(done.text, /href="\/account\/login"/);

      assert.equal((await t.services.accounts.authenticate('kim', OLD, '10.3.0.1')).outcome, 'failed');
      assert.equal((await t.services.accounts.authenticate('kim', NEW, '10.3.0.2')).outcome, 'ok');
      assert.equal(await silent(other), false, 'another browser’s session no longer signs in silently');
      assert.equal(await silent(browser), false, 'this session ended too');
      assert.equal((await browser.get(PATH)).location, '/account/login');
      assert.equal(await t.services.store.oidc.countByAccount('Session', id), 0);

      assert.equal(logoutTokens.length, 1, 'the back-channel relying party was told');
      const claims = JSON.parse(Buffer.from(logoutTokens[0]!.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string; aud: string };
      assert.equal(claims.sub, id);
      assert.equal(claims.aud, 'bcl-rp');

      const mail = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= sentBefore && m.to.includes('kim@example.com'));
      assert.match(mail.subject, /password was changed/);
      assert.doesNotMatch(mail.text, new RegExp(NEW));
      const events = (await t.services.audit.recent({ limit: 100 })).filter((e) => e.accountId === id && e.type === 'password.changed');
      assert.deepEqual(
        events.map((e) => [e.outcome, e.actor]),
        [['success', 'self']],
      );
    });
  });
}
