/**
 * "Forgot password?" through the real pages with a real SMTP server and openid-client:
 * proofs, the strong-proof rule, the atomic commit, revocation everywhere, notifications,
 * a fresh sign-in at the end, decoys that look like real accounts.
 */
import assert from 'node:assert/strict';
import { totpNow } from '../support/totp.ts';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { seedWithMethods } from '../support/seed.ts';

const OLD = 'copper-finch-sings-early';
const NEW = 'violet-harbour-kites-drift';

for (const backend of BACKENDS) {
  describe(`self-service password reset on ${backend}`, function () {
    this.timeout(60_000);
    let t: TestApp;
    let rp: RelyingParty;
    let smtp: TestSmtpServer;

    before(async () => {
      smtp = await startSmtpServer();
      t = await startTestApp(
        {
          SSPR_SCOPE: 'all',
          SSPR_METHODS: 'email,authenticator_app,recovery_codes',
          SMTP_URL: smtp.url,
          DEV_OUTBOX: 'false',
          RESET_MAX_FAILED_PROOFS: '3',
          HELPDESK_URL: 'https://help.example.com/password',
        },
        {},
        backend,
      );
      rp = await RelyingParty.discover(t.url, t.redirectUri);
    });
    after(async () => {
      await t?.close();
      await smtp?.stop();
    });

    const seed = (login: string, admin = false): Promise<{ id: string; totp: string }> => seedWithMethods(t.services, login, OLD, admin);

    async function signIn(browser: Browser, login: string, password: string) {
      const flow = await rp.start();
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: login, password }, t.redirectUri);
      return { flow, done };
    }

    async function startReset(browser: Browser, identifier: string): Promise<Page> {
      const form = await browser.open('/reset');
      assert.match(form.text, /Reset your password/);
      return browser.submit(form, '/reset', { identifier });
    }

    it('from "Forgot password?" to a fresh sign-in: strong proof, new password, every old session and token dead, user notified', async () => {
      const { id, totp } = await seed('uma');
      // An older session with tokens, in another browser.
      const other = new Browser(t.url);
      const before = await signIn(other, 'uma', OLD);
      const oldTokens = await rp.finish(before.flow, before.done.location!);

      const browser = new Browser(t.url);
      const flow = await rp.start();
      const signinPage = await browser.open(flow.url.toString(), t.redirectUri);
      assert.match(signinPage.text, /Forgot password\?/);
      const forgot = new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec(signinPage.text)![1]!, t.url).toString();
      const identify = await browser.open(forgot);
      assert.match(identify.text, /Reset your password/);
      const returnId = /name="r" value="([^"]+)"/.exec(identify.text)![1]!;
      const choose = await browser.submit(identify, '/reset', { identifier: 'uma@example.com', r: returnId });
      assert.equal(choose.status, 200, choose.text.slice(0, 300));
      assert.match(choose.text, /Prove it is you/);
      assert.match(choose.text, /Authenticator app/);
      assert.doesNotMatch(choose.text, /u•••@e•••\.org/, 'a weak method cannot be the only proof when a strong one exists');

      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: /name="ref" id="ref-(m\d)" value="\1"/.exec(choose.text)![1]! });
      assert.match(prove.text, /autocomplete="one-time-code"/);
      const wrong = await browser.submit(prove, '/reset/flow', { action: 'finish', code: '000000' });
      assert.equal(wrong.status, 400);
      const newPassword = await browser.submit(wrong, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
      assert.match(newPassword.text, /Choose a new password/);

      const weak = await browser.submit(newPassword, '/reset/flow', { password: 'qwertyuiop12345', confirm: 'qwertyuiop12345' });
      assert.match(weak.text, /too common/);
      const reused = await browser.submit(weak, '/reset/flow', { password: OLD, confirm: OLD });
      assert.match(reused.text, /used this password before/);
      assert.equal((await t.services.accounts.authenticate('uma', OLD, '10.1.1.1')).outcome, 'ok', 'nothing changed yet');

      const done = await browser.submit(reused, '/reset/flow', { password: NEW, confirm: NEW });
      assert.equal(done.status, 200);
      assert.match(done.text, /Password changed/);
      assert.match(done.text, /We sent a confirmation to your email\./);
      assert.match(done.text, /Sign in to Test App again/);
      const replay = await browser.post('/reset/flow', { csrf: /name="csrf" value="([^"]+)"/.exec(reused.text)![1]!, password: NEW, confirm: NEW });
      assert.equal(replay.status, 409, 'a replayed final step fails');

      // Old refresh token, old access token and the other browser's session are all dead.
      await assert.rejects(rp.refresh(oldTokens.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
      await assert.rejects(rp.userinfo(oldTokens.access_token, id), (e: { status?: number }) => e.status === 401);
      const again = await rp.start();
      const otherPage = await other.open(again.url.toString(), t.redirectUri);
      assert.match(otherPage.text, /<h1>Sign in<\/h1>/, 'the old session no longer signs in silently');
      assert.equal((await t.services.accounts.authenticate('uma', OLD, '10.1.1.2')).outcome, 'failed');

      // "Back to sign-in" starts a fresh authorization request with the original parameters.
      const back = /href="(\/auth\?[^"]+)"/.exec(done.text)![1]!.replace(/&amp;/g, '&');
      const fresh = await browser.open(back, t.redirectUri);
      assert.match(fresh.text, /Sign in to continue to Test App/, 'no automatic sign-in');
      const signedIn = await browser.submit(fresh, formAction(fresh.text, '/password'), { identifier: 'uma', password: NEW }, t.redirectUri);
      const tokens = await rp.finish(flow, signedIn.location!);
      assert.equal(tokens.claims()!.sub, id);

      const mails = smtp.messages.filter((m) => /password was reset/.test(m.subject));
      assert.deepEqual(mails.flatMap((m) => m.to).sort(), ['uma.private@example.org', 'uma@example.com'], 'every registered address is told');
      assert.doesNotMatch(mails[0]!.text, new RegExp(NEW));
      const events = (await t.services.audit.recent({ limit: 100 })).filter((e) => e.accountId === id).map((e) => e.type);
      assert.ok(events.includes('reset.completed') && events.includes('reset.proof_failed'), events.join(','));
    });

    it('two proofs for an admin: two different methods and destinations; the other admins are told', async () => {
      await t.services.accounts.create({ login: 'boss', email: 'boss@example.com', password: OLD, admin: true });
      const { totp } = await seed('vera', true);
      const browser = new Browser(t.url);
      const choose = await startReset(browser, 'vera');
      assert.match(choose.text, /\(0 of 2 done\)/);
      const emailRef = /id="ref-(m\d)" value="\1"[^>]*>\s*<label[^>]*>Email/.exec(choose.text)![1]!;
      const sentAt = smtp.messages.length;
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: emailRef });
      assert.match(prove.text, /We sent a code to v•••@e•••\.org/);
      const mail = await smtp.waitFor((m) => m.to.includes('vera.private@example.org') && smtp.messages.indexOf(m) >= sentAt);
      const second = await browser.submit(prove, '/reset/flow', { action: 'finish', code: codeIn(mail, 8) });
      assert.match(second.text, /\(1 of 2 done\)/);
      assert.doesNotMatch(second.text, /id="ref-m0"/, 'the proven method is not offered again');
      const prove2 = await browser.submit(second, '/reset/flow', { action: 'choose', ref: /name="ref" id="ref-(m\d)"/.exec(second.text)![1]! });
      const pw = await browser.submit(prove2, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
      const done = await browser.submit(pw, '/reset/flow', { password: NEW, confirm: NEW });
      assert.match(done.text, /Password changed/);
      const notice = await smtp.waitFor((m) => m.to.includes('boss@example.com') && /admin account "vera" reset its password/.test(m.subject));
      assert.ok(notice);
    });

    it('an unknown identifier gets the same pages, statuses and counts as a real one, and nothing is sent', async () => {
      await seed('walt');
      const real = new Browser(t.url);
      const fake = new Browser(t.url);
      const r1 = await startReset(real, 'walt');
      const f1 = await startReset(fake, 'nobody-at-all');
      assert.equal(f1.status, r1.status);
      assert.match(f1.text, /Prove it is you/);
      const shape = (p: Page) => p.text.replace(/value="[^"]*"|<span class="hint">[^<]*<\/span>|Email|Authenticator app|Recovery codes|Mobile phone|ref-m\d/g, '');
      assert.equal(shape(f1), shape(r1), 'same page structure');
      const sent = smtp.messages.length;
      const fakeChoice = /name="ref" id="ref-(m\d)"/.exec(f1.text)![1]!;
      let fp = await fake.submit(f1, '/reset/flow', { action: 'choose', ref: fakeChoice });
      const realChoice = /name="ref" id="ref-(m\d)"/.exec(r1.text)![1]!;
      let rp1 = await real.submit(r1, '/reset/flow', { action: 'choose', ref: realChoice });
      for (let i = 0; i < 3; i += 1) {
        fp = await fake.submit(fp, '/reset/flow', { action: 'finish', code: '123456' });
        rp1 = await real.submit(rp1, '/reset/flow', { action: 'finish', code: '123456' });
        assert.equal(fp.status, rp1.status, `attempt ${i + 1}: ${fp.status} vs ${rp1.status}`);
      }
      assert.equal(fp.status, 429, 'blocked after RESET_MAX_FAILED_PROOFS');
      assert.match(fp.text, /Password reset is blocked for this account/);
      assert.equal(smtp.messages.length, sent, 'nothing was sent for the decoy (and the real one used its app)');
      const again = await startReset(new Browser(t.url), 'nobody-at-all');
      assert.equal(again.status, 429, 'the decoy stays blocked like a real account');
      // Reset throttling never locks normal sign-in.
      const s = await signIn(new Browser(t.url), 'walt', OLD);
      assert.ok(s.done.location?.startsWith(t.redirectUri));
    });

    it('an expired or foreign flow restarts with a message, never a dead end', async () => {
      const browser = new Browser(t.url);
      const page = await browser.open('/reset/flow');
      assert.equal(page.status, 410);
      assert.match(page.text, /has expired or is no longer valid/);
      assert.match(page.text, /href="\/reset"/);
      for (const p of [page, await browser.open('/reset')]) {
        assert.match(p.text, /href="https:\/\/help\.example\.com\/password"/, 'the helpdesk link shows on every reset page');
      }
    });
  });
}
