/**
 * Registration of recovery methods at sign-in, through the real pages, with a real SMTP
 * server, the SMS gateway stand-in and openid-client as the relying party.
 */
import assert from 'node:assert/strict';
import { totpNow } from '../support/totp.ts';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, type SmsGateway, TEST_TWILIO, twilioEnv } from '../support/sms-gateway.ts';
import type { MethodRecord, RecoveryCodesMethod } from '../../src/domain/methods/types.ts';
import { rawStore } from '../support/raw-store.ts';

const PASSWORD = 'harbor-lantern-quietly-glows';
const SID = TEST_TWILIO.accountSid;
const TOKEN = TEST_TWILIO.authToken;

for (const backend of BACKENDS) {
  describe(`registration at sign-in on ${backend}`, function () {
    this.timeout(60_000);
    let t: TestApp;
    let rp: RelyingParty;
    let smtp: TestSmtpServer;
    let gateway: SmsGateway;

    before(async () => {
      smtp = await startSmtpServer();
      gateway = await startSmsGateway({ accountSid: SID, authToken: TOKEN, webhookSecret: 'w'.repeat(32) });
      t = await startTestApp(
        {
          SSPR_SCOPE: 'all',
          SSPR_METHODS: 'email,mobile_phone,office_phone,authenticator_app,security_questions,recovery_codes',
          SSPR_METHODS_REQUIRED: '2',
          SMTP_URL: smtp.url,
          DEV_OUTBOX: 'false',
          ...twilioEnv(gateway, 'PL,US'),
        },
        {},
        backend,
      );
      rp = await RelyingParty.discover(t.url, t.redirectUri);
    });
    after(async () => {
      await t?.close();
      await smtp?.stop();
      await gateway?.stop();
    });

    async function signIn(login: string): Promise<{ browser: Browser; page: Page; flow: Awaited<ReturnType<RelyingParty['start']>> }> {
      const browser = new Browser(t.url);
      const flow = await rp.start();
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password: PASSWORD }, t.redirectUri);
      return { browser, page, flow };
    }

    const mailTo = (to: string, after = 0) => smtp.waitFor((m) => m.to.includes(to) && m.subject.includes('code') && smtp.messages.indexOf(m) >= after);

    it('bootstrap by email code, then email + authenticator app; tokens say pwd, otp and mfa; the primary address is told', async () => {
      const { account } = await t.services.accounts.create({ login: 'nina', email: 'nina@example.com', password: PASSWORD });
      const { browser, page, flow } = await signIn('nina');
      assert.equal(page.status, 200);
      assert.match(page.text, /Confirm it is you/);
      assert.match(page.text, /n•••@e•••\.com/);
      const bootMail = await mailTo('nina@example.com');
      const bootCode = codeIn(bootMail, 8);

      const wrong = await browser.submit(page, formAction(page.text, '/bootstrap'), { action: 'code', code: '00000000' === bootCode ? '11111111' : '00000000' });
      assert.equal(wrong.status, 400);
      assert.match(wrong.text, /That code is not right/);
      assert.match(wrong.text, /aria-invalid="true"/);

      const chooser = await browser.submit(wrong, formAction(wrong.text, '/bootstrap'), { action: 'code', code: bootCode });
      assert.equal(chooser.status, 200, chooser.text.slice(0, 500));
      assert.match(chooser.text, /Set up account recovery/);
      assert.match(chooser.text, /Set up 2 of them \(0 done\)/);

      // Email: address → code → saved.
      const emailForm = await browser.submit(chooser, formAction(chooser.text, '/register'), { action: 'choose', kind: 'email' });
      assert.match(emailForm.text, /autocomplete="email"/);
      const invalid = await browser.submit(emailForm, formAction(emailForm.text, '/register'), { action: 'start', email: 'not an address' });
      assert.equal(invalid.status, 400);
      assert.match(invalid.text, /Enter a valid email address/);
      const before = smtp.messages.length;
      const codePage = await browser.submit(invalid, formAction(invalid.text, '/register'), { action: 'start', email: 'Nina.Private@Example.org' });
      assert.equal(codePage.status, 200);
      assert.match(codePage.text, /We sent a code to n•••@e•••\.org/);
      const emailCode = codeIn(await mailTo('nina.private@example.org', before), 8);
      const chooser2 = await browser.submit(codePage, formAction(codePage.text, '/register'), { action: 'finish', code: emailCode });
      assert.match(chooser2.text, /\(1 done\)/);
      assert.doesNotMatch(chooser2.text, /id="kind-email"/, 'a registered kind is not offered again');

      // Authenticator app: key shown as QR and text, first code confirms it.
      const totpPage = await browser.submit(chooser2, formAction(chooser2.text, '/register'), { action: 'choose', kind: 'authenticator_app' });
      assert.match(totpPage.text, /<svg/);
      const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(totpPage.text)![1]!.replace(/ /g, '');
      const done = await browser.submit(totpPage, formAction(totpPage.text, '/register'), { action: 'finish', code: await totpNow(key) }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), `sign-in finishes after registration: ${done.status} ${done.text.slice(0, 300)}`);
      const tokens = await rp.finish(flow, done.location!);
      assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(tokens.claims()!.email_verified, true, 'the bootstrap code proved the primary address');

      const stored = (await t.services.accounts.get(account.id))!;
      const kinds = (stored.methods as MethodRecord[]).map((m) => m.kind).sort();
      assert.deepEqual(kinds, ['authenticator_app', 'email']);
      const notice = await smtp.waitFor((m) => m.to.includes('nina@example.com') && /Recovery methods were set up/.test(m.subject));
      assert.match(notice.text, /If this was not you/);

      // Nothing secret at rest in clear: neither the TOTP key nor any code.
      const raw = await rawStore(t);
      for (const secret of [key, bootCode, emailCode]) assert.ok(!raw.includes(secret), `${secret.slice(0, 4)}… must not be stored in clear`);

      // Each step is an audit event, with no secret in it.
      const events = (await t.services.audit.recent({ limit: 200 })).filter((e) => e.accountId === account.id);
      const types = events.map((e) => `${e.type}:${e.outcome}`);
      for (const expected of ['code.sent:success', 'code.failed:failure', 'bootstrap.used:success', 'method.registered:success']) {
        assert.ok(types.includes(expected), `audit has ${expected}: ${types.join(', ')}`);
      }
      assert.deepEqual(events.filter((e) => e.type === 'method.registered').map((e) => e.details?.kind).sort(), ['authenticator_app', 'email']);
      assert.ok(!JSON.stringify(events).includes(bootCode) && !JSON.stringify(events).includes(emailCode), 'no code in the audit trail');

      // The next sign-in goes straight through.
      const again = await signIn('nina');
      assert.ok(again.page.location?.startsWith(t.redirectUri), 'registered users are not asked again');
    });

    it('mobile phone by SMS through the Twilio-shaped gateway, recovery codes shown once, and a temporary access pass as bootstrap', async () => {
      const { account } = await t.services.accounts.create({ login: 'omar', password: PASSWORD });
      const { browser, page, flow } = await signIn('omar');
      assert.match(page.text, /There is no email address on your account/);
      const wrongPass = await browser.submit(page, formAction(page.text, '/bootstrap'), { action: 'tap', pass: 'aaaaa-bbbbb-ccccc-ddddd' });
      assert.match(wrongPass.text, /temporary access pass is wrong, used or expired/);
      const { pass } = await t.services.accessPasses.issue(account.id, 3600_000);
      const chooser = await browser.submit(wrongPass, formAction(wrongPass.text, '/bootstrap'), { action: 'tap', pass });
      assert.match(chooser.text, /Set up account recovery/);

      const phoneForm = await browser.submit(chooser, formAction(chooser.text, '/register'), { action: 'choose', kind: 'mobile_phone' });
      const banned = await browser.submit(phoneForm, formAction(phoneForm.text, '/register'), { action: 'start', phone: '+44 7400 123456', channel: 'sms' });
      assert.match(banned.text, /Phone numbers from this country cannot be used here/);
      const bad = await browser.submit(banned, formAction(banned.text, '/register'), { action: 'start', phone: '+48 12', channel: 'sms' });
      assert.match(bad.text, /Enter a valid phone number/);
      assert.equal(gateway.received.length, 0, 'nothing was sent for refused numbers');
      const sent = await browser.submit(bad, formAction(bad.text, '/register'), { action: 'start', phone: '+48 601 234 567', channel: 'sms' });
      assert.match(sent.text, /We sent a code to \+48 ••• ••• •67/);
      const sms = await gateway.waitFor((m) => m.to === '+48601234567');
      assert.equal(sms.kind, 'twilio-sms');
      const chooser2 = await browser.submit(sent, formAction(sent.text, '/register'), { action: 'finish', code: digitsIn(sms.text, 6) });
      assert.match(chooser2.text, /\(1 done\)/);

      const codesPage = await browser.submit(chooser2, formAction(chooser2.text, '/register'), { action: 'choose', kind: 'recovery_codes' });
      const codes = [...codesPage.text.matchAll(/<li><code>([0-9a-z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
      assert.equal(codes.length, 10);
      const unconfirmed = await browser.submit(codesPage, formAction(codesPage.text, '/register'), { action: 'finish' });
      assert.match(unconfirmed.text, /Confirm that you saved the codes/);
      const done = await browser.submit(unconfirmed, formAction(unconfirmed.text, '/register'), { action: 'finish', saved: 'yes' }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri));
      assert.deepEqual((await rp.finish(flow, done.location!)).claims()!.amr, ['pwd', 'sms', 'otp', 'mfa']);
      const raw = await rawStore(t);
      for (const c of codes) assert.ok(!raw.includes(c) && !raw.includes(c.replace(/-/g, '')), 'recovery codes are not stored in clear');
      assert.ok(!raw.includes(pass), 'the access pass is not stored in clear');
    });

    it('recovery codes rest in the store as argon2id with a salt each and a short lookup tag: no code, and no keyed hash of one (ASVS 6.5.2)', async () => {
      const { account } = await t.services.accounts.create({ login: 'rhea', password: PASSWORD });
      const { browser, page, flow } = await signIn('rhea');
      const { pass } = await t.services.accessPasses.issue(account.id, 3600_000);
      const chooser = await browser.submit(page, formAction(page.text, '/bootstrap'), { action: 'tap', pass });
      const codesPage = await browser.submit(chooser, formAction(chooser.text, '/register'), { action: 'choose', kind: 'recovery_codes' });
      const codes = [...codesPage.text.matchAll(/<li><code>([0-9a-z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
      assert.equal(codes.length, 10);
      // While the page waits for "I saved them", the pending set rests in the store too.
      const pendingRaw = await rawStore(t);
      const saved = await browser.submit(codesPage, formAction(codesPage.text, '/register'), { action: 'finish', saved: 'yes' });
      assert.match(saved.text, /\(1 done\)/);
      const sqPage = await browser.submit(saved, formAction(saved.text, '/register'), { action: 'choose', kind: 'authenticator_app' });
      const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(sqPage.text)![1]!.replace(/ /g, '');
      const done = await browser.submit(sqPage, formAction(sqPage.text, '/register'), { action: 'finish', code: await totpNow(key) }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), done.text.slice(0, 500));
      await rp.finish(flow, done.location!);

      const record = ((await t.services.accounts.get(account.id))!.methods as MethodRecord[]).find((m): m is RecoveryCodesMethod => m.kind === 'recovery_codes')!;
      assert.equal(record.codes.length, 10);
      const raw = await rawStore(t);
      const salts = new Set<string>();
      for (const slot of record.codes) {
        const phc = /^\$argon2id\$v=19\$m=\d+,p=\d+,t=\d+\$([A-Za-z0-9+/]+)\$[A-Za-z0-9+/]+$/.exec(slot.hash);
        assert.ok(phc, `argon2id with its salt: ${slot.hash}`);
        assert.ok(Buffer.from(phc[1]!, 'base64').length >= 4, 'a salt of at least 32 bits');
        salts.add(phc[1]!);
        assert.match(slot.tag ?? '', /^[0-9a-f]{4}$/, 'a 2-byte lookup tag');
        assert.ok(raw.includes(slot.hash), 'the argon2id hash is what the store holds');
      }
      assert.equal(salts.size, 10, 'a salt of its own for every code');
      for (const c of codes) {
        const normalized = c.replace(/-/g, '');
        const keyed = t.services.hmac.digest('recovery-code', normalized);
        for (const [when, text] of [['pending', pendingRaw], ['registered', raw]] as const) {
          assert.ok(!text.includes(c) && !text.includes(normalized), `${when}: no recovery code in clear`);
          assert.ok(!text.includes(keyed), `${when}: no keyed hash of a recovery code`);
        }
      }
    });

    it('an out-of-scope user goes straight through', async () => {
      await t.services.accounts.create({ login: 'pia', email: 'pia@example.com', password: PASSWORD });
      await t.services.accounts.update((await t.services.accounts.findByIdentifier('pia'))!.id, (a) => a);
      const scoped = await startTestApp({ SSPR_SCOPE: 'groups', SSPR_GROUPS: 'pilot', SSPR_METHODS: 'email,authenticator_app,recovery_codes' }, {}, 'sqlite');
      try {
        await scoped.services.accounts.create({ login: 'outside', password: PASSWORD, groups: ['staff'] });
        const rp2 = await RelyingParty.discover(scoped.url, scoped.redirectUri);
        const browser = new Browser(scoped.url);
        const flow = await rp2.start();
        const signin = await browser.open(flow.url.toString(), scoped.redirectUri);
        const done = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'outside', password: PASSWORD }, scoped.redirectUri);
        assert.ok(done.location?.startsWith(scoped.redirectUri), 'no registration for users out of scope');
      } finally {
        await scoped.close();
      }
    });
  });
}
