/**
 * The OWASP ASVS 5.0 and NIST SP 800-63B-4 requirements docs/security.md maps to tests, where
 * no other suite proved them yet: passwords of any composition, length and age, compared
 * exactly; the service's own words refused; password fields that password managers and paste
 * can fill; an absolute session lifetime; a disabled account's sessions and tokens ending;
 * out-of-band codes bound to the sign-in or reset they were sent for; secrets from the CSPRNG
 * and session identifiers of at least 128 bits; a sign-out on every signed-in page; the
 * defaults that keep security questions and email in their place.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { totpNow } from '../support/totp.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { ROOT } from '../support/cli.ts';
import { securityInfoClient } from '../support/security-info-client.ts';
import { parseConfig } from '../../src/config/load.ts';
import { PasswordHasher } from '../../src/domain/password-hasher.ts';
import { PasswordRules, contextWords } from '../../src/domain/password-rules.ts';
import { Invitations } from '../../src/domain/invitations.ts';
import { PASSWORD, factorRef, resetRef, seedAccount, startResetPage } from './helpers.ts';

const DAY = 24 * 3600 * 1000;

describe('standards: ASVS 5.0 and NIST 800-63B-4 requirements not proven elsewhere', function () {
  this.timeout(60_000);
  let t: TestApp;
  let rp: RelyingParty;
  let smtp: TestSmtpServer;
  let offset = 0;
  const clock = (): number => Date.now() + offset;

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp(
      {
        SSPR_SCOPE: 'all',
        SSPR_METHODS: 'email,authenticator_app,recovery_codes',
        SSPR_METHODS_REQUIRED: '1',
        SSPR_RECONFIRM_DAYS: '0',
        TWO_FACTOR: 'off',
        PRODUCT_NAME: 'Lumen Access',
        SMTP_URL: smtp.url,
        DEV_OUTBOX: 'false',
        SESSION_TTL_SECONDS: '3600',
        SIGNIN_IP_MAX_FAILURES: '100000',
      },
      { clock },
      'sqlite',
    );
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  async function signIn(login: string, password: string, browser = new Browser(t.url)): Promise<{ browser: Browser; done: Page; refresh: string }> {
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: login, password }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri), `${login} signs in: ${done.status} ${done.text.slice(0, 300)}`);
    const tokens = await rp.finish(flow, done.location!);
    return { browser, done, refresh: tokens.refresh_token! };
  }

  /** Who the browser's session belongs to, by a silent authorization request; undefined when it has none. */
  async function sessionOwner(browser: Browser): Promise<string | undefined> {
    const flow = await rp.start({ prompt: 'none' });
    const res = await browser.open(flow.url.toString(), t.redirectUri);
    const callback = new URL(res.location ?? res.url, t.url);
    if (!callback.searchParams.get('code')) return undefined;
    return (await rp.finish(flow, callback.toString())).claims()!.sub;
  }

  describe('passwords (ASVS 6.2, NIST 800-63B-4 §3.1.1.2)', () => {
    it('any composition is accepted: one letter kind only, digits only, spaces, other scripts, emoji (6.2.5)', async () => {
      const s = await seedAccount(t, 'any-composition', ['email']);
      for (const password of ['onlylowercaseletterswords', '8461937205518273', 'words with many spaces between', 'пароль-без-латиницы-длинный', '🦊🦉🐢🐙🦀🐝🦋🐌🐞🦜🐬🐳🦭🐧🐿', 'Κωδικός πρόσβασης μεγάλος']) {
        const problem = await t.services.accounts.changePassword(s.id, password, { signOutEverywhere: false });
        assert.equal(problem, undefined, `${password} is accepted`);
        assert.equal((await t.services.accounts.authenticate(s.login, password, '10.0.0.1')).outcome, 'ok', `${password} signs in`);
      }
    });

    it('64 and 256 characters are accepted, 257 refused; the password is compared whole and with its case (6.2.8, 6.2.9)', async () => {
      const s = await seedAccount(t, 'long-and-exact', ['email']);
      const long = 'Correct-Horse-Battery-Staple-'.repeat(9).slice(0, 256);
      for (const password of [long.slice(0, 64), long]) assert.equal(await t.services.accounts.changePassword(s.id, password, { signOutEverywhere: false }), undefined, `${password.length} characters`);
      assert.equal(await t.services.accounts.changePassword(s.id, `${long}x`, { signOutEverywhere: false }), 'password_too_long');
      const ip = '10.0.0.2';
      assert.equal((await t.services.accounts.authenticate(s.login, long, ip)).outcome, 'ok');
      assert.equal((await t.services.accounts.authenticate(s.login, long.slice(0, 255), ip)).outcome, 'failed', 'no truncation: a prefix is not the password');
      assert.equal((await t.services.accounts.authenticate(s.login, long.toLowerCase(), ip)).outcome, 'failed', 'no case transformation');
      assert.equal((await t.services.accounts.authenticate(s.login, long.toUpperCase(), ip)).outcome, 'failed', 'no case transformation');
    });

    it('never expires: a password set five years ago still signs in, and nothing asks to change it (6.2.10)', async () => {
      const s = await seedAccount(t, 'never-expires', ['email']);
      offset = 5 * 365 * DAY;
      try {
        const { done } = await signIn(s.login, PASSWORD);
        assert.ok(done.location?.startsWith(t.redirectUri), 'straight through to the application');
      } finally {
        offset = 0;
      }
    });

    it('the service\'s own words (product name, host name) are refused with their own message (6.1.2, 6.2.11)', async () => {
      assert.deepEqual(contextWords('Lumen Access', 'https://login.lumen-corp.example'), ['lumen', 'access', 'login', 'corp']);
      assert.deepEqual(contextWords('rekey', 'http://127.0.0.1:3000'), ['rekey']);
      const rules = new PasswordRules({ minLength: 8, maxLength: 64, contextWords: contextWords('Lumen Access', 'https://login.lumen-corp.example') }, new PasswordHasher({ memoryCost: 7168, timeCost: 2, parallelism: 1 }));
      const ctx = { login: 'ann', emails: ['ann@example.com'], history: [] };
      for (const p of ['my-LUMEN-password-1', 'corporate-access-key', 'Ｌｕｍｅｎ-fullwidth-pass']) assert.equal(await rules.check(p, ctx), 'password_contains_context', p);
      assert.equal(await rules.check('violet-harbour-kites-drift', ctx), undefined);
      // Through a page: the new-password step of a temporary password, with the catalog's message.
      const { temporaryPassword } = await t.services.accounts.create({ login: 'context-words', email: 'context-words@example.com' });
      const browser = new Browser(t.url);
      const page = await browser.open((await rp.start()).url.toString(), t.redirectUri);
      const change = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'context-words', password: temporaryPassword! }, t.redirectUri);
      const refused = await browser.submit(change, formAction(change.text, '/new-password'), { password: 'lumen-is-where-i-work', confirm: 'lumen-is-where-i-work' }, t.redirectUri);
      assert.equal(refused.status, 400);
      assert.match(refused.text, /may not contain the name of this service/);
    });

    it('every password field is type=password, says what password managers should fill, and nothing blocks paste (6.2.6, 6.2.7)', async () => {
      const pages: [string, string][] = [];
      // Sign-in, and the new-password step of a temporary password.
      const browser = new Browser(t.url);
      const signin = await browser.open((await rp.start()).url.toString(), t.redirectUri);
      pages.push(['sign-in', signin.text]);
      const { temporaryPassword } = await t.services.accounts.create({ login: 'fields-temp', email: 'fields-temp@example.com' });
      pages.push(['new password at sign-in', (await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'fields-temp', password: temporaryPassword! }, t.redirectUri)).text]);
      // The reset's new password.
      const r = await seedAccount(t, 'fields-reset', ['authenticator_app']);
      const resetBrowser = new Browser(t.url);
      const choose = await startResetPage(resetBrowser, r.login);
      const prove = await resetBrowser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, 'Authenticator app') });
      pages.push(['reset new password', (await resetBrowser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(r.totp!) })).text]);
      // Invitation; My security info's password step; change password.
      pages.push(['invitation', (await new Browser(t.url).open('/invite')).text]);
      const a = await seedAccount(t, 'fields-account', ['email']);
      const { browser: signedIn } = await signIn(a.login, PASSWORD);
      pages.push(['My security info', (await signedIn.open('/account/security')).text]);
      pages.push(['change password', (await signedIn.open('/account/password')).text]);
      for (const [name, html] of pages) {
        const inputs = [...html.matchAll(/<input[^>]*name="(password|confirm|current)"[^>]*>/g)].map((m) => m[0]);
        assert.ok(inputs.length > 0, `${name} has a password field`);
        for (const input of inputs) {
          assert.match(input, /type="password"/, `${name}: ${input}`);
          assert.match(input, /autocomplete="(current|new)-password"/, `${name}: ${input}`);
        }
        assert.doesNotMatch(html, /onpaste|oncopy|ondrop|autocomplete="off"|<script/i, `${name}: nothing interferes with paste or password managers`);
      }
    });
  });

  describe('codes and secrets (ASVS 6.5, 6.6; NIST 800-63B-4 §3.1.2–3.1.4)', () => {
    it('an emailed code works only in the reset it was sent for, not in another one for the same account (6.6.2)', async () => {
      const s = await seedAccount(t, 'bound-code', ['email']);
      const start = async () => {
        const browser = new Browser(t.url);
        const choose = await startResetPage(browser, s.login);
        const before = smtp.messages.length;
        const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, 'Email') });
        const code = codeIn(await smtp.waitFor((m) => m.to.includes(s.email!) && smtp.messages.indexOf(m) >= before), 8);
        return { browser, prove, code };
      };
      const one = await start();
      const two = await start();
      assert.notEqual(one.code, two.code);
      const crossed = await two.browser.submit(two.prove, '/reset/flow', { action: 'finish', code: one.code });
      assert.equal(crossed.status, 400);
      assert.match(crossed.text, /That code is not right/);
      const right = await one.browser.submit(one.prove, '/reset/flow', { action: 'finish', code: one.code });
      assert.match(right.text, /Choose a new password/, 'the code works where it was sent');
    });

    it('an emailed code works only in the sign-in it was sent for (6.6.2)', async () => {
      const app = await startTestApp({ TWO_FACTOR: 'all', TWO_FACTOR_METHODS: 'email,authenticator_app', SSPR_METHODS: 'email,authenticator_app', SMTP_URL: smtp.url, DEV_OUTBOX: 'false' });
      try {
        const appRp = await RelyingParty.discover(app.url, app.redirectUri);
        const s = await seedAccount(app, 'bound-factor', ['email']);
        const start = async () => {
          const browser = new Browser(app.url);
          const signin = await browser.open((await appRp.start()).url.toString(), app.redirectUri);
          const chooser = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: s.login, password: PASSWORD });
          const before = smtp.messages.length;
          const proof = await browser.submit(chooser, formAction(chooser.text, '/second-factor'), { action: 'choose', ref: factorRef(chooser.text, 'Email') });
          const code = codeIn(await smtp.waitFor((m) => m.to.includes(s.email!) && smtp.messages.indexOf(m) >= before), 8);
          return { browser, proof, code };
        };
        const one = await start();
        const two = await start();
        const crossed = await two.browser.submit(two.proof, formAction(two.proof.text, '/second-factor'), { action: 'finish', code: one.code }, app.redirectUri);
        assert.equal(crossed.status, 400);
        assert.ok(!crossed.location, 'not signed in with another sign-in\'s code');
        const right = await one.browser.submit(one.proof, formAction(one.proof.text, '/second-factor'), { action: 'finish', code: one.code }, app.redirectUri);
        assert.ok(right.location?.startsWith(app.redirectUri));
      } finally {
        await app.close();
      }
    });

    it('codes, TOTP seeds, recovery codes and tokens come from the CSPRNG: no Math.random in the sources (6.5.3)', () => {
      const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
      const offenders = ['src', 'interactions', 'adapters'].flatMap((d) => walk(join(ROOT, d))).filter((f) => /Math\.random\s*\(/.test(readFileSync(f, 'utf8')));
      assert.deepEqual(offenders, []);
    });
  });

  describe('sessions (ASVS 7; NIST 800-63B-4 reauthentication)', () => {
    it('session identifiers carry at least 128 bits and change at sign-in (7.2.3, 7.2.4)', async () => {
      const s = await seedAccount(t, 'session-bits', ['email']);
      const browser = new Browser(t.url);
      await browser.open((await rp.start()).url.toString(), t.redirectUri);
      const cookie = (name: string, path = '/') => browser.agent.jar.getCookie(name, { domain: '127.0.0.1', path, secure: false, script: false })?.value;
      await signIn(s.login, PASSWORD, browser);
      const session = cookie('_session')!;
      assert.match(session, /^[A-Za-z0-9_-]+$/);
      assert.ok(session.length * 6 >= 128, `${session.length} base64url characters`);
      // A sign-in in a browser with a session (prompt=login re-authenticates) gets a new identifier.
      const flow = await rp.start({ prompt: 'login' });
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      const again = await browser.submit(page, formAction(page.text, '/password'), { identifier: s.login, password: PASSWORD }, t.redirectUri);
      await rp.finish(flow, again.location!);
      assert.notEqual(cookie('_session'), session, 're-authentication rotates the session identifier');
      // rekey's own tokens: a reset flow's id and secret, CSRF tokens.
      const resetBrowser = new Browser(t.url);
      const form = await resetBrowser.open('/reset');
      assert.ok(hiddenValue(form.text, 'csrf').length * 6 >= 128);
      await resetBrowser.submit(form, '/reset', { identifier: s.login });
      const flowCookie = resetBrowser.agent.jar.getCookie('rekey_reset', { domain: '127.0.0.1', path: '/reset', secure: false, script: false })!.value;
      const [handle, secret] = flowCookie.split('.');
      assert.ok(handle!.length * 6 >= 128 && secret!.length * 6 >= 128, flowCookie);
    });

    it('an absolute session lifetime (SESSION_TTL_SECONDS) by the store\'s clock: afterwards, sign in again (7.3.2)', async () => {
      const s = await seedAccount(t, 'session-ttl', ['email']);
      const { browser } = await signIn(s.login, PASSWORD);
      assert.equal(await sessionOwner(browser), s.id);
      offset = 3600 * 1000 + 60_000;
      try {
        assert.equal(await sessionOwner(browser), undefined, 'the session is over after an hour');
      } finally {
        offset = 0;
      }
    });

    it('disabling an account ends its sessions and refresh tokens at once (7.4.2)', async () => {
      const s = await seedAccount(t, 'disabled-later', ['email']);
      const { browser, refresh } = await signIn(s.login, PASSWORD);
      assert.ok((await rp.refresh(refresh)).access_token);
      await t.services.accounts.setStatus(s.id, 'disabled');
      await assert.rejects(rp.refresh(refresh), (e: { error?: string }) => e.error === 'invalid_grant');
      assert.equal(await sessionOwner(browser), undefined);
    });

    it('My security info offers a sign-out on every page, and it ends the session (7.4.4)', async () => {
      const s = await seedAccount(t, 'sign-out-link', ['email']);
      const { signIn: accountSignIn, prove } = securityInfoClient(() => ({ t, rp, smtp }), PASSWORD);
      const browser = await accountSignIn(s.login);
      const step1 = await browser.open('/account/security');
      assert.match(step1.text, /<a href="\/session\/end">Sign out<\/a>/);
      const step2 = await browser.submit(step1, '/account/security/password', { password: PASSWORD });
      assert.match(step2.text, /<a href="\/session\/end">Sign out<\/a>/);
      const signedIn = await accountSignIn(s.login);
      const managePage = await prove(signedIn, s.email!);
      assert.match(managePage.text, /<a href="\/session\/end">Sign out<\/a>/);
      const confirm = await signedIn.open('/session/end');
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.text)![1]!;
      await signedIn.agent.post('/session/end/confirm').type('form').send({ xsrf, logout: 'yes' }).redirects(0);
      assert.equal(await sessionOwner(signedIn), undefined, 'signed out');
      assert.match((await signedIn.open('/account/security')).text, /Sign in to manage your security info/);
    });
  });

  describe('defaults', () => {
    it('security questions are off, email is no second factor, and SMS goes nowhere until countries are allowed (6.4.2, 6.3.5, 6.6.1)', () => {
      const c = parseConfig({});
      assert.ok(!c.SSPR_METHODS.includes('security_questions'), `SSPR_METHODS=${c.SSPR_METHODS.join(',')}`);
      assert.equal(c.TWO_FACTOR, 'all');
      assert.equal(c.TWO_FACTOR_METHODS, undefined, 'the strong methods only');
      const services = parseConfig({ SSPR_METHODS: 'email,mobile_phone,authenticator_app' });
      assert.deepEqual(services.PHONE_COUNTRIES, []);
    });

    it('where phones are offered, so are the authenticator app and recovery codes, and the page says texts and calls are the weaker choice (6.6.1)', async () => {
      const app = await startTestApp({ SSPR_SCOPE: 'all', SSPR_METHODS: 'email,mobile_phone,office_phone,authenticator_app,recovery_codes', PHONE_COUNTRIES: 'PL', DEFAULT_LOCALE: 'en' });
      try {
        const appRp = await RelyingParty.discover(app.url, app.redirectUri);
        const { account } = await app.services.accounts.create({ login: 'phone-risk', email: 'phone-risk@example.com', password: PASSWORD });
        await app.services.accounts.update(account.id, (a) => ({ ...a, bootstrapProvenAt: Date.now() }));
        for (const [lang, texts] of [['en', /Texts and calls can be diverted to another phone \(for example by a SIM swap\): the authenticator app is safer/], ['de', /SMS und Anrufe können auf ein anderes Telefon umgeleitet werden/]] as const) {
          const browser = new Browser(app.url);
          const signin = await browser.open((await appRp.start({ ui_locales: lang })).url.toString(), app.redirectUri);
          const chooser = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'phone-risk', password: PASSWORD });
          assert.match(chooser.text, /id="kind-authenticator_app"/);
          assert.match(chooser.text, /id="kind-recovery_codes"/);
          assert.match(chooser.text, /id="kind-mobile_phone"/);
          assert.match(chooser.text, texts);
        }
      } finally {
        await app.close();
      }
    });

    it('an invitation code is single use and expires; a temporary password must be changed at once (6.4.1)', async () => {
      const { account } = await t.services.accounts.create({ login: 'invited-once', email: 'invited-once@example.com', noPassword: true });
      const before = smtp.messages.length;
      const issued = await new Invitations(t.services).issue(account, { actor: 'cli' });
      assert.ok(issued.expiresAt - t.services.clock() <= 72 * 3600 * 1000 + 1000, 'expires within INVITE_TTL_HOURS');
      const mail = await smtp.waitFor((m) => m.to.includes('invited-once@example.com') && smtp.messages.indexOf(m) >= before);
      const code = /(?<![a-z0-9-])[a-hjkmnp-z2-9]{5}(?:-[a-hjkmnp-z2-9]{5}){3}(?![a-z0-9-])/.exec(mail.text)![0];
      const invitations = new Invitations(t.services);
      assert.equal((await invitations.accept('invited-once', code, 'first-chosen-passphrase', '10.0.0.3')).outcome, 'accepted');
      assert.equal((await invitations.accept('invited-once', code, 'second-chosen-passphrase', '10.0.0.3')).outcome, 'invalid', 'the code works once');
    });
  });
});
