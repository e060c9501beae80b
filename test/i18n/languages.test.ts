/**
 * Languages: every catalog is complete, and the language a user sees follows the relying
 * party's ui_locales, then the browser's Accept-Language, then DEFAULT_LOCALE — on pages,
 * error pages and in the emails sent while serving them.
 */
import assert from 'node:assert/strict';
import { totpNow } from '../support/totp.ts';
import { en } from '../../src/i18n/en.ts';
import { de } from '../../src/i18n/de.ts';
import { LOCALES, pickLocale, withLocale, t, type Locale } from '../../src/i18n/index.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { seedWithMethods } from '../support/seed.ts';

const CATALOGS: Record<Locale, Record<string, string | undefined>> = { en, de };
const placeholders = (s: string): string[] => [...new Set([...s.matchAll(/\{(\w+)(?=[,}])/g)].map((m) => m[1]!))].sort();

describe('message catalogs', () => {
  for (const locale of LOCALES) {
    it(`${locale}: every key of the English catalog exists, is not empty, and keeps its placeholders`, () => {
      const catalog = CATALOGS[locale];
      const missing = Object.keys(en).filter((k) => !catalog[k]?.trim());
      assert.deepEqual(missing, [], `missing in ${locale}`);
      const extra = Object.keys(catalog).filter((k) => !(k in en));
      assert.deepEqual(extra, [], `keys in ${locale} that English does not have`);
      const wrong = Object.entries(en).filter(([k, v]) => placeholders(v).join() !== placeholders(catalog[k] ?? '').join()).map(([k]) => k);
      assert.deepEqual(wrong, [], `placeholders differ in ${locale}`);
    });
  }

  it('German is German: texts differ from English except where a word is the same in both', () => {
    const same = Object.keys(en).filter((k) => de[k as keyof typeof de] === en[k as keyof typeof en]);
    assert.ok(same.length < 10, `too many untranslated German texts: ${same.join(', ')}`);
  });

  it('counts read right in each language: one minute, five minutes', () => {
    const say = (locale: Locale, key: string, vars: Record<string, number>) => withLocale(locale, () => t(key, vars));
    assert.equal(say('en', 'signin.locked', { minutes: 1 }), 'Too many failed attempts. Try again in 1 minute.');
    assert.equal(say('en', 'signin.locked', { minutes: 5 }), 'Too many failed attempts. Try again in 5 minutes.');
    assert.equal(say('de', 'signin.locked', { minutes: 1 }), 'Zu viele fehlgeschlagene Versuche. Versuchen Sie es in 1 Minute erneut.');
    assert.equal(say('de', 'second_factor.remember', { days: 30 }), 'Auf diesem Gerät 30 Tage lang nicht mehr fragen');
    assert.match(say('en', 'account.remove.too_few', { need: 1 }), /at least 1 recovery method\./);
  });

  it('SMS texts fit one message in every language', () => {
    for (const locale of LOCALES) {
      const text = withLocale(locale, () => t('mail.code.sms', { code: '12345678', product: 'Contoso Sign-in', minutes: 10 }));
      assert.ok(text.length <= 160, `${locale}: ${text.length} characters`);
    }
  });

  it('ui_locales and Accept-Language pick the first supported language; a region matches its language', () => {
    assert.equal(pickLocale('fr de-AT en', 'ui_locales'), 'de');
    assert.equal(pickLocale('fr-CH, fr;q=0.9, de;q=0.8, en;q=0.7', 'accept-language'), 'de');
    assert.equal(pickLocale('en;q=0.2, de', 'accept-language'), 'de', 'weights order the list');
    assert.equal(pickLocale('de;q=0, en-GB', 'accept-language'), 'en', 'q=0 means not acceptable');
    assert.equal(pickLocale('fr, it', 'accept-language'), undefined);
    assert.equal(pickLocale('*', 'accept-language'), undefined);
    assert.equal(pickLocale(undefined, 'ui_locales'), undefined);
  });
});

describe('the language of pages and emails', function () {
  this.timeout(60_000);
  let t1: TestApp;
  let rp: RelyingParty;
  let smtp: TestSmtpServer;

  before(async () => {
    smtp = await startSmtpServer();
    t1 = await startTestApp({ SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes', SSPR_METHODS_REQUIRED: '2', SSPR_PROOFS_REQUIRED: '2', SMTP_URL: smtp.url, DEV_OUTBOX: 'false' });
    rp = await RelyingParty.discover(t1.url, t1.redirectUri);
  });
  after(async () => {
    await t1?.close();
    await smtp?.stop();
  });

  it('discovery lists the supported ui_locales', async () => {
    const res = await fetch(`${t1.url}/.well-known/openid-configuration`);
    const doc = (await res.json()) as { ui_locales_supported?: string[] };
    assert.deepEqual(doc.ui_locales_supported, ['en', 'de']);
  });

  it('ui_locales=de gives German pages for the whole sign-in, even against an English browser', async () => {
    const browser = new Browser(t1.url, { 'Accept-Language': 'en-US,en;q=0.9' });
    const flow = await rp.start({ ui_locales: 'fr de' });
    const page = await browser.open(flow.url.toString(), t1.redirectUri);
    assert.equal(page.status, 200);
    assert.match(page.text, /<html lang="de">/);
    assert.ok(page.text.includes(`<h1>${de['signin.title']}</h1>`), page.text.slice(0, 800));
    assert.ok(page.text.includes(de['signin.forgot']!));
    const wrong = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'nobody', password: 'not-the-password' });
    assert.ok(wrong.text.includes(de['signin.failed']!), 'the error after a post is German too');
    assert.doesNotMatch(wrong.text, /incorrect/);
  });

  it('Accept-Language picks German without ui_locales; an unsupported one falls back to English', async () => {
    const german = new Browser(t1.url, { 'Accept-Language': 'de-CH,de;q=0.9,en;q=0.5' });
    const page = await german.open((await rp.start()).url.toString(), t1.redirectUri);
    assert.match(page.text, /<html lang="de">/);
    const french = new Browser(t1.url, { 'Accept-Language': 'fr-FR,fr;q=0.9' });
    const english = await french.open((await rp.start()).url.toString(), t1.redirectUri);
    assert.match(english.text, /<html lang="en">/);
    assert.match(english.text, /<h1>Sign in<\/h1>/);
  });

  it('error pages and API errors speak the browser\'s language', async () => {
    const res = await fetch(`${t1.url}/interaction/no-such-interaction`, { headers: { 'Accept-Language': 'de', Accept: 'text/html' } });
    const body = await res.text();
    assert.ok(res.status >= 400 && res.status < 500, String(res.status));
    assert.ok(body.includes(de['error.session_expired']!), body.slice(0, 600));
    const api = await fetch(`${t1.url}/api/v1/resets`, { method: 'POST', headers: { 'Accept-Language': 'de', 'Content-Type': 'application/json' }, body: '{' });
    const json = (await api.json()) as { error: string; message: string };
    assert.equal(api.status, 400);
    assert.equal(json.error, 'body_invalid');
    assert.equal(json.message, de['api.body_invalid']);
    // A field of the wrong shape: the whole message in German, what is expected included.
    const field = await fetch(`${t1.url}/api/v1/resets`, { method: 'POST', headers: { 'Accept-Language': 'de', 'Content-Type': 'application/json' }, body: JSON.stringify({ identifier: 42 }) });
    const fj = (await field.json()) as { error: string; message: string };
    assert.equal(field.status, 400);
    assert.equal(fj.error, 'field_invalid');
    assert.equal(fj.message, 'Das Feld „identifier“ ist ungültig; erwartet: eine Zeichenkette mit höchstens 320 Zeichen.');
  });

  it('a reset in German sends the code and the notice in German, with German dates', async () => {
    const { totp } = await seedWithMethods(t1.services, 'jonas', 'alte-kastanie-am-fluss-42');
    smtp.clear();
    const browser = new Browser(t1.url, { 'Accept-Language': 'de' });
    const identify = await browser.open('/reset');
    assert.ok(identify.text.includes(`<h1>${de['reset.title']}</h1>`));
    const choose = await browser.submit(identify, '/reset', { identifier: 'jonas' });
    assert.ok(choose.text.includes(de['method.authenticator_app']!), 'masked methods are German too');
    const emailRef = /name="ref" id="ref-(m\d)" value="\1"[^>]*>\s*<label[^>]*>E-Mail/.exec(choose.text)?.[1];
    assert.ok(emailRef, choose.text);
    const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: emailRef });
    const mail = await smtp.waitFor((m) => m.to.includes('jonas.private@example.org'));
    assert.equal(mail.subject, withLocale('de', () => t('mail.code.subject', { product: 'rekey', code: codeIn(mail) })));
    assert.ok(mail.text.startsWith(withLocale('de', () => t('mail.code.email', { product: 'rekey', code: codeIn(mail), minutes: 10 })).slice(0, 20)));
    const second = await browser.submit(prove, '/reset/flow', { action: 'finish', code: codeIn(mail) });
    const appRef = /name="ref" id="ref-(m\d)" value="\1"/.exec(second.text)![1]!;
    const app = await browser.submit(second, '/reset/flow', { action: 'choose', ref: appRef });
    const newPassword = await browser.submit(app, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
    assert.ok(newPassword.text.includes(de['change_password.new']!), newPassword.text.slice(0, 800));
    const done = await browser.submit(newPassword, '/reset/flow', { password: 'neue-laterne-im-nebel-17', confirm: 'neue-laterne-im-nebel-17' });
    assert.ok(done.text.includes(de['reset.done_title']!), done.text.slice(0, 800));
    const notice = await smtp.waitFor((m) => m.subject === withLocale('de', () => t('mail.password_reset.subject', { product: 'rekey' })));
    assert.ok(notice.text.startsWith(withLocale('de', () => t('mail.greeting', { name: 'jonas' }))), notice.text);
    assert.match(notice.text, /\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}/, 'a German date');
  });

  it('DEFAULT_LOCALE=de speaks German when the browser names no supported language', async () => {
    const t2 = await startTestApp({ DEFAULT_LOCALE: 'de' });
    try {
      const rp2 = await RelyingParty.discover(t2.url, t2.redirectUri);
      const page = await new Browser(t2.url, { 'Accept-Language': 'fr' }).open((await rp2.start()).url.toString(), t2.redirectUri);
      assert.match(page.text, /<html lang="de">/);
      const english = await new Browser(t2.url, { 'Accept-Language': 'en' }).open((await rp2.start()).url.toString(), t2.redirectUri);
      assert.match(english.text, /<html lang="en">/, 'a supported browser language still wins');
    } finally {
      await t2.close();
    }
  });
});
