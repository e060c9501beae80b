/**
 * Edge cases of registration at sign-in, through the real pages (openid-client as the relying
 * party, a real SMTP server, the Twilio-shaped gateway stand-in): security questions and admins,
 * voice calls and office extensions, delivery failures, dying / replaced / expired codes, the
 * send throttle, tampered forms and postponing. Each case checks what the user sees and what
 * was stored or sent.
 */
import assert from 'node:assert/strict';
import { totpNow } from '../support/totp.ts';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty, type RpFlow } from '../support/rp.ts';
import { codeIn, startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, type SmsGateway, TEST_TWILIO, twilioEnv } from '../support/sms-gateway.ts';
import type { MethodRecord, PhoneMethod, SecurityQuestionsMethod } from '../../src/domain/methods/types.ts';
import { rawStore } from '../support/raw-store.ts';

const PASSWORD = 'harbor-lantern-quietly-glows';
const SID = TEST_TWILIO.accountSid;
const TOKEN = TEST_TWILIO.authToken;

for (const backend of BACKENDS) {
  describe(`registration edge cases on ${backend}`, function () {
    this.timeout(60_000);
    let smtp: TestSmtpServer;
    let gateway: SmsGateway;
    /** Every method on, questions and office phone included; codes die after 3 wrong tries or 60 s. */
    let a: TestApp;
    let rpA: RelyingParty;
    /** The default methods only (no office phone, no questions); 2 code emails per window. */
    let b: TestApp;
    let rpB: RelyingParty;
    /** App a's clock runs `skew` ms ahead of the real one. */
    let skew = 0;

    const gatewayEnv = () => ({
      ...twilioEnv(gateway, 'PL,US'),
    });

    before(async () => {
      smtp = await startSmtpServer();
      gateway = await startSmsGateway({ accountSid: SID, authToken: TOKEN, webhookSecret: 'e'.repeat(32) });
      a = await startTestApp(
        {
          SSPR_SCOPE: 'all',
          SSPR_METHODS: 'email,mobile_phone,office_phone,authenticator_app,security_questions,recovery_codes',
          SSPR_METHODS_REQUIRED: '1',
          SSPR_QUESTIONS_REGISTER: '3',
          SSPR_QUESTIONS_ANSWER: '3',
          SSPR_POSTPONE_LIMIT: '1',
          CODE_MAX_ATTEMPTS: '3',
          CODE_TTL_SECONDS: '60',
          SMTP_URL: smtp.url,
          DEV_OUTBOX: 'false',
          ...gatewayEnv(),
        },
        { clock: () => Date.now() + skew },
        backend,
      );
      rpA = await RelyingParty.discover(a.url, a.redirectUri);
      b = await startTestApp(
        {
          SSPR_SCOPE: 'all',
          SSPR_METHODS: 'email,mobile_phone,authenticator_app,recovery_codes',
          SSPR_METHODS_REQUIRED: '1',
          EMAIL_SEND_LIMIT: '2',
          SMTP_URL: smtp.url,
          DEV_OUTBOX: 'false',
          ...gatewayEnv(),
        },
        {},
        backend,
      );
      rpB = await RelyingParty.discover(b.url, b.redirectUri);
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await smtp?.stop();
      await gateway?.stop();
    });

    interface Session {
      browser: Browser;
      page: Page;
      flow: RpFlow;
    }

    async function signIn(t: TestApp, rp: RelyingParty, login: string): Promise<Session> {
      const browser = new Browser(t.url);
      const flow = await rp.start();
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password: PASSWORD }, t.redirectUri);
      return { browser, page, flow };
    }

    /** An account without an email address, signed in, past the bootstrap (a temporary access pass), at the chooser. */
    async function atChooser(t: TestApp, rp: RelyingParty, login: string, admin = false) {
      const { account } = await t.services.accounts.create({ login, password: PASSWORD, admin });
      const s = await signIn(t, rp, login);
      const chooser = await passBootstrap(t, s, account.id);
      return { ...s, page: chooser, accountId: account.id };
    }

    async function passBootstrap(t: TestApp, s: Session, accountId: string): Promise<Page> {
      assert.equal(s.page.status, 200);
      assert.match(s.page.text, /There is no email address on your account/);
      const { pass } = await t.services.accessPasses.issue(accountId, 3600_000);
      const chooser = await s.browser.submit(s.page, formAction(s.page.text, '/bootstrap'), { action: 'tap', pass });
      assert.equal(chooser.status, 200, chooser.text.slice(0, 500));
      assert.match(chooser.text, /Set up account recovery/);
      return chooser;
    }

    const methodsOf = async (t: TestApp, id: string): Promise<MethodRecord[]> => (await t.services.accounts.get(id))!.methods as MethodRecord[];
    const post = (s: Session, page: Page, fields: Record<string, string>, stopAt?: string) =>
      s.browser.submit(page, formAction(page.text, '/register'), fields, stopAt);
    const codeMails = (...to: string[]): ReceivedMail[] => smtp.messages.filter((m) => m.subject.includes('code') && m.to.some((r) => to.includes(r)));
    const mailTo = (to: string, after = 0) => smtp.waitFor((m) => m.to.includes(to) && m.subject.includes('code') && smtp.messages.indexOf(m) >= after);
    const smsTo = (to: string, after = 0) => gateway.waitFor((m) => m.to === to && gateway.received.indexOf(m) >= after);
    // The one summary alert links to the field; the field's own error is tied to it by id.
    const fieldErr = (name: string, text: RegExp | string) => {
      const message = typeof text === 'string' ? text : text.source;
      return new RegExp(`<div class="alert" role="alert">[\\s\\S]*<a href="#${name}">${message}[\\s\\S]*id="${name}-error">${message}`);
    };
    const auditOf = async (t: TestApp, accountId: string) =>
      (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === accountId).map((e) => `${e.type}:${e.outcome}`);

    describe('security questions', () => {
      it('offers at least 20 questions per select, says which field is wrong, stores only argon2id hashes', async () => {
        const s = await atChooser(a, rpA, 'quinn');
        assert.match(s.page.text, /id="kind-security_questions"/);
        const form = await post(s, s.page, { action: 'choose', kind: 'security_questions' });
        assert.equal(form.status, 200);
        assert.match(form.text, /Choose 3 questions and answer them/);
        const selects = [...form.text.matchAll(/<select id="(question_\d)" name="\1"[^>]*>([\s\S]*?)<\/select>/g)];
        assert.deepEqual(selects.map((m) => m[1]), ['question_1', 'question_2', 'question_3']);
        for (const m of selects) {
          const ids = [...m[2]!.matchAll(/<option value="([^"]+)"/g)].map((o) => o[1]!);
          assert.ok(ids.length >= 20, `${m[1]} offers ${ids.length} questions`);
          assert.equal(new Set(ids).size, ids.length, 'no question offered twice in a select');
        }
        // Preselected questions differ, so the untouched form does not trip "repeated question".
        const preselected = selects.map((m) => /<option value="([^"]+)" selected>/.exec(m[2]!)?.[1]);
        assert.equal(new Set(preselected).size, 3);

        const answers = { answer_1: 'Quokka Zanzibar', answer_2: 'Velvet Umbrella', answer_3: 'Crimson Harbor' };
        const repeatedQuestion = await post(s, form, { action: 'finish', question_1: 'q05', question_2: 'q05', question_3: 'q12', ...answers });
        assert.equal(repeatedQuestion.status, 400);
        assert.match(repeatedQuestion.text, fieldErr('question_2', 'Choose a different question for each answer'));
        assert.match(repeatedQuestion.text, /<select id="question_2" name="question_2" required aria-describedby="question_2-error" aria-invalid="true"[^>]*>/);
        assert.doesNotMatch(repeatedQuestion.text, /id="question_1-error"|id="answer_\d-error"/, 'only the offending field is marked');
        for (const answer of Object.values(answers)) assert.ok(!repeatedQuestion.text.includes(answer), 'answers are not echoed back');

        const repeatedAnswer = await post(s, repeatedQuestion, {
          action: 'finish', question_1: 'q05', question_2: 'q09', question_3: 'q12', answer_1: 'Quokka Zanzibar', answer_2: '  quokka   ZANZIBAR ', answer_3: 'Crimson Harbor',
        });
        assert.equal(repeatedAnswer.status, 400);
        assert.match(repeatedAnswer.text, fieldErr('answer_2', 'Give a different answer to each question'));
        assert.match(repeatedAnswer.text, /<input id="answer_2" name="answer_2"[^>]*aria-describedby="answer_2-error" aria-invalid="true"/);
        // The picked questions are kept after an error.
        assert.match(repeatedAnswer.text, /<option value="q09" selected>/);

        const tooShort = await post(s, repeatedAnswer, { action: 'finish', question_1: 'q05', question_2: 'q09', question_3: 'q12', answer_1: 'Quokka Zanzibar', answer_2: 'Velvet Umbrella', answer_3: ' ab ' });
        assert.equal(tooShort.status, 400);
        assert.match(tooShort.text, fieldErr('answer_3', 'Each answer needs at least 3 characters'));
        assert.deepEqual(await methodsOf(a, s.accountId), [], 'nothing is stored while the answers are refused');

        const done = await post(s, tooShort, { action: 'finish', question_1: 'q05', question_2: 'q09', question_3: 'q12', ...answers }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `sign-in finishes: ${done.status} ${done.text.slice(0, 300)}`);
        const amr = (await rpA.finish(s.flow, done.location!)).claims()!.amr as string[];
        assert.deepEqual(amr, ['pwd', 'kba'], 'password and security questions are both knowledge: no mfa');

        const methods = await methodsOf(a, s.accountId);
        assert.equal(methods.length, 1);
        const record = methods[0] as SecurityQuestionsMethod;
        assert.equal(record.kind, 'security_questions');
        assert.deepEqual(record.answers.map((x) => x.questionId), ['q05', 'q09', 'q12']);
        for (const x of record.answers) assert.match(x.hash, /^\$argon2id\$/);
        assert.ok(await a.services.hasher.verify(record.answers[0]!.hash, 'quokka zanzibar'), 'answers are stored normalized');
        const raw = await rawStore(a);
        for (const answer of Object.values(answers)) {
          assert.ok(!raw.includes(answer) && !raw.includes(answer.toLowerCase()), `"${answer}" must not be stored in clear`);
        }
        const events = await auditOf(a, s.accountId);
        assert.ok(events.includes('method.registration_failed:failure') && events.includes('method.registered:success'), events.join(', '));
      });

      it('an admin needs 2 methods, is never offered security questions, and a forged choice of them is refused', async () => {
        const s = await atChooser(a, rpA, 'ada-admin', true);
        assert.match(s.page.text, /Set up 2 of them \(0 done\)/);
        assert.match(s.page.text, /id="kind-authenticator_app"/);
        assert.doesNotMatch(s.page.text, /kind-security_questions/);
        assert.doesNotMatch(s.page.text, /Security questions/i);

        const forged = await post(s, s.page, { action: 'choose', kind: 'security_questions' });
        assert.equal(forged.status, 400);
        assert.match(forged.text, /Choose one of the methods shown/);
        assert.doesNotMatch(forged.text, /<select id="question_1"/);
        // Answers posted straight to "finish" do not register anything either.
        const forgedFinish = await post(s, forged, { action: 'finish', question_1: 'q01', question_2: 'q02', question_3: 'q03', answer_1: 'alpha', answer_2: 'bravo', answer_3: 'charlie' });
        assert.equal(forgedFinish.status, 400);
        assert.deepEqual(await methodsOf(a, s.accountId), []);

        // One method registered (an authenticator app); questions are still not offered, nor the app again.
        const totp = await post(s, forgedFinish, { action: 'choose', kind: 'authenticator_app' });
        const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(totp.text)![1]!.replace(/ /g, '');
        const chooser = await post(s, totp, { action: 'finish', code: await totpNow(key) });
        assert.equal(chooser.status, 200);
        assert.match(chooser.text, /\(1 done\)/);
        assert.doesNotMatch(chooser.text, /kind-security_questions|kind-authenticator_app/);
        for (const kind of ['security_questions', 'authenticator_app']) {
          const again = await post(s, chooser, { action: 'choose', kind });
          assert.equal(again.status, 400, kind);
          assert.match(again.text, /Choose one of the methods shown/);
        }
        const methods = await methodsOf(a, s.accountId);
        assert.deepEqual(methods.map((m) => m.kind), ['authenticator_app']);
      });
    });

    describe('phones by voice call', () => {
      it('office phone by a Twilio voice call, with an extension; the code is spoken in TwiML; amr says tel', async () => {
        const s = await atChooser(a, rpA, 'otto');
        const form = await post(s, s.page, { action: 'choose', kind: 'office_phone' });
        assert.match(form.text, /<input id="extension" name="extension"/);
        assert.match(form.text, /id="channel-voice" value="voice" checked/);
        const bad = await post(s, form, { action: 'start', phone: '+48 22 123 45 67', extension: '12a', channel: 'voice' });
        assert.equal(bad.status, 400);
        assert.match(bad.text, fieldErr('extension', 'The extension may only contain up to 8 digits'));
        const before = gateway.received.length;
        const sent = await post(s, bad, { action: 'start', phone: '+48 22 123 45 67', extension: '123', channel: 'voice' });
        assert.equal(sent.status, 200);
        assert.match(sent.text, /We sent a code to \+48 ••• ••• •67 ext\. ••3/);
        const call = await smsTo('+48221234567', before);
        assert.equal(call.kind, 'twilio-voice');
        assert.equal(call.channel, 'voice');
        assert.match(String(call.fields.Twiml), /^<Response><Say>[^<]*<\/Say><Pause length="1"\/><Say>/);
        const code = digitsIn(call.text, 6);
        assert.match(call.text, new RegExp(code.split('').join('[ ,]+')), 'the code is spelled out digit by digit');

        const done = await post(s, sent, { action: 'finish', code }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        assert.deepEqual((await rpA.finish(s.flow, done.location!)).claims()!.amr, ['pwd', 'tel', 'mfa']);
        const [record, ...rest] = await methodsOf(a, s.accountId) as PhoneMethod[];
        assert.equal(rest.length, 0);
        assert.equal(record!.kind, 'office_phone');
        assert.equal(record!.e164, '+48221234567');
        assert.equal(record!.country, 'PL');
        assert.equal(record!.extension, '123');
      });

      it('mobile phone: channel voice gives amr tel, channel sms gives amr sms', async () => {
        for (const [login, phone, e164, channel, amr] of [
          ['vera', '+48 602 345 678', '+48602345678', 'voice', 'tel'],
          ['sam', '+48 603 456 789', '+48603456789', 'sms', 'sms'],
        ] as const) {
          const s = await atChooser(a, rpA, login);
          const form = await post(s, s.page, { action: 'choose', kind: 'mobile_phone' });
          assert.match(form.text, /id="channel-sms" value="sms" checked/);
          const before = gateway.received.length;
          const sent = await post(s, form, { action: 'start', phone, channel });
          assert.equal(sent.status, 200);
          const message = await smsTo(e164, before);
          assert.equal(message.kind, channel === 'voice' ? 'twilio-voice' : 'twilio-sms');
          const done = await post(s, sent, { action: 'finish', code: digitsIn(message.text, 6) }, a.redirectUri);
          assert.ok(done.location?.startsWith(a.redirectUri), `${channel}: ${done.status} ${done.text.slice(0, 300)}`);
          assert.deepEqual((await rpA.finish(s.flow, done.location!)).claims()!.amr, ['pwd', amr, 'mfa'], channel);
          const methods = (await methodsOf(a, s.accountId)) as PhoneMethod[];
          assert.deepEqual(methods.map((m) => [m.kind, m.e164, m.extension]), [['mobile_phone', e164, undefined]]);
        }
      });
    });

    describe('delivery failures outside a reset', () => {
      it('an address the SMTP server refuses is reported, nothing is registered, and another address works', async () => {
        const s = await atChooser(a, rpA, 'bea');
        smtp.rejectRecipient('bounce.bea@example.net');
        const form = await post(s, s.page, { action: 'choose', kind: 'email' });
        const failed = await post(s, form, { action: 'start', email: 'bounce.bea@example.net' });
        assert.equal(failed.status, 400);
        assert.match(failed.text, /We could not send the code/);
        assert.match(failed.text, /value="bounce\.bea@example\.net"/, 'the address is kept for correcting');
        assert.equal(codeMails('bounce.bea@example.net').length, 0);
        assert.deepEqual(await methodsOf(a, s.accountId), []);
        assert.ok((await auditOf(a, s.accountId)).includes('code.delivery_failed:failure'));

        const before = smtp.messages.length;
        const sent = await post(s, failed, { action: 'start', email: 'bea@example.org' });
        assert.equal(sent.status, 200);
        assert.match(sent.text, /We sent a code to b•••@e•••\.org/);
        const done = await post(s, sent, { action: 'finish', code: codeIn(await mailTo('bea@example.org', before), 8) }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        const methods = await methodsOf(a, s.accountId);
        assert.deepEqual(methods.map((m) => [m.kind, (m as { address?: string }).address]), [['email', 'bea@example.org']]);
      });

      it('a gateway answering 500 is reported, nothing is registered, and trying again works', async () => {
        const s = await atChooser(a, rpA, 'gus');
        const form = await post(s, s.page, { action: 'choose', kind: 'mobile_phone' });
        const rejectedBefore = gateway.rejected.length;
        const receivedBefore = gateway.received.length;
        gateway.failWith(500);
        const failed = await post(s, form, { action: 'start', phone: '+48 604 567 890', channel: 'sms' });
        assert.equal(failed.status, 400);
        assert.match(failed.text, /We could not send the code/);
        assert.match(failed.text, /value="\+48 604 567 890"/);
        assert.deepEqual(gateway.rejected.slice(rejectedBefore).map((r) => r.status), [500]);
        assert.equal(gateway.received.length, receivedBefore);
        assert.deepEqual(await methodsOf(a, s.accountId), []);
        assert.ok((await auditOf(a, s.accountId)).includes('code.delivery_failed:failure'));

        const sent = await post(s, failed, { action: 'start', phone: '+48 604 567 890', channel: 'sms' });
        assert.equal(sent.status, 200);
        const sms = await smsTo('+48604567890', receivedBefore);
        const done = await post(s, sent, { action: 'finish', code: digitsIn(sms.text, 6) }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        assert.deepEqual(((await methodsOf(a, s.accountId)) as PhoneMethod[]).map((m) => [m.kind, m.e164]), [['mobile_phone', '+48604567890']]);
      });
    });

    describe('codes', () => {
      it('wrong codes count; after CODE_MAX_ATTEMPTS the code dies and even the right one fails; a new code works', async () => {
        const s = await atChooser(a, rpA, 'cora');
        const form = await post(s, s.page, { action: 'choose', kind: 'email' });
        const before = smtp.messages.length;
        let page = await post(s, form, { action: 'start', email: 'cora@example.org' });
        const code = codeIn(await mailTo('cora@example.org', before), 8);
        const wrong = code === '00000000' ? '11111111' : '00000000';
        for (let i = 1; i <= 2; i += 1) {
          page = await post(s, page, { action: 'finish', code: wrong });
          assert.equal(page.status, 400);
          assert.match(page.text, fieldErr('code', 'That code is not right'), `wrong code ${i}`);
        }
        page = await post(s, page, { action: 'finish', code: wrong });
        assert.equal(page.status, 400);
        assert.match(page.text, /Too many wrong codes/);
        assert.match(page.text, /Send a new code/, 'the page offers what the message asks for');

        const right = await post(s, page, { action: 'finish', code });
        assert.equal(right.status, 400, 'the dead code fails even when right');
        assert.match(right.text, fieldErr('code', /That code has expired/));
        assert.doesNotMatch(right.text, /Set up account recovery/);
        assert.deepEqual(await methodsOf(a, s.accountId), []);
        const events = await auditOf(a, s.accountId);
        assert.equal(events.filter((e) => e === 'method.registration_failed:failure').length, 4);

        const resendAt = smtp.messages.length;
        const resent = await post(s, right, { action: 'resend' });
        assert.equal(resent.status, 200);
        assert.match(resent.text, /We sent a code to c•••@e•••\.org/);
        const fresh = codeIn(await mailTo('cora@example.org', resendAt), 8);
        if (fresh !== code) {
          const old = await post(s, resent, { action: 'finish', code });
          assert.equal(old.status, 400);
          assert.match(old.text, fieldErr('code', 'That code is not right'));
        }
        const done = await post(s, resent, { action: 'finish', code: fresh }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        assert.deepEqual((await methodsOf(a, s.accountId)).map((m) => m.kind), ['email']);
      });

      it('"Send a new code" replaces the code: the old one no longer works, the new one does', async () => {
        const s = await atChooser(a, rpA, 'remy');
        const form = await post(s, s.page, { action: 'choose', kind: 'mobile_phone' });
        const first = gateway.received.length;
        const sent = await post(s, form, { action: 'start', phone: '+48 605 678 901', channel: 'sms' });
        const oldCode = digitsIn((await smsTo('+48605678901', first)).text, 6);
        const second = gateway.received.length;
        const resent = await s.browser.submit(sent, formAction(sent.text, '/register'), { action: 'resend' });
        assert.equal(resent.status, 200);
        assert.match(resent.text, /We sent a code to \+48 ••• ••• •01/);
        const newCode = digitsIn((await smsTo('+48605678901', second)).text, 6);
        assert.equal(gateway.received.filter((m) => m.to === '+48605678901').length, 2);
        if (newCode !== oldCode) {
          const old = await post(s, resent, { action: 'finish', code: oldCode });
          assert.equal(old.status, 400);
          assert.match(old.text, fieldErr('code', 'That code is not right'));
          assert.deepEqual(await methodsOf(a, s.accountId), []);
        }
        const done = await post(s, resent, { action: 'finish', code: newCode }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        assert.deepEqual(((await methodsOf(a, s.accountId)) as PhoneMethod[]).map((m) => m.e164), ['+48605678901']);
      });

      it('a code past CODE_TTL_SECONDS fails as expired and registers nothing', async () => {
        const s = await atChooser(a, rpA, 'eve');
        const form = await post(s, s.page, { action: 'choose', kind: 'email' });
        const before = smtp.messages.length;
        const sent = await post(s, form, { action: 'start', email: 'eve@example.org' });
        const code = codeIn(await mailTo('eve@example.org', before), 8);
        skew += 61_000;
        const expired = await post(s, sent, { action: 'finish', code });
        assert.equal(expired.status, 400);
        assert.match(expired.text, fieldErr('code', /That code has expired/));
        assert.match(expired.text, /Send a new code/);
        assert.deepEqual(await methodsOf(a, s.accountId), []);

        const resendAt = smtp.messages.length;
        const resent = await post(s, expired, { action: 'resend' });
        assert.equal(resent.status, 200);
        const fresh = codeIn(await mailTo('eve@example.org', resendAt), 8);
        const done = await post(s, resent, { action: 'finish', code: fresh }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        assert.deepEqual((await methodsOf(a, s.accountId)).map((m) => m.kind), ['email']);
      });
    });

    describe('send throttle', () => {
      it('with EMAIL_SEND_LIMIT=2 the third code (bootstrap included) is refused with 429, and exactly 2 mails left', async () => {
        const { account } = await b.services.accounts.create({ login: 'theo', email: 'theo@example.com', password: PASSWORD });
        const s = await signIn(b, rpB, 'theo');
        assert.match(s.page.text, /Confirm it is you/);
        const bootCode = codeIn(await mailTo('theo@example.com'), 8); // code 1
        const chooser = await s.browser.submit(s.page, formAction(s.page.text, '/bootstrap'), { action: 'code', code: bootCode });
        assert.match(chooser.text, /Set up account recovery/);
        const form = await post(s, chooser, { action: 'choose', kind: 'email' });
        const sent = await post(s, form, { action: 'start', email: 'theo.alt@example.com' }); // code 2
        assert.equal(sent.status, 200);
        const code = codeIn(await mailTo('theo.alt@example.com'), 8);

        const refused = await post(s, sent, { action: 'resend' }); // code 3: over the limit
        assert.equal(refused.status, 429);
        assert.match(refused.text, /Too many codes were sent/);
        assert.equal(codeMails('theo@example.com', 'theo.alt@example.com').length, 2);
        assert.ok((await auditOf(b, account.id)).includes('code.throttled:blocked'));
        assert.deepEqual(await methodsOf(b, account.id), []);

        // The code already sent still works.
        const done = await post(s, refused, { action: 'finish', code }, b.redirectUri);
        assert.ok(done.location?.startsWith(b.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        assert.deepEqual((await methodsOf(b, account.id)).map((m) => (m as { address?: string }).address), ['theo.alt@example.com']);
        assert.equal(codeMails('theo@example.com', 'theo.alt@example.com').length, 2);
      });
    });

    describe('tampered forms', () => {
      it('kinds not enabled or not allowed, odd actions, a missing or foreign CSRF token and a premature finish are refused and change nothing', async () => {
        const s = await atChooser(b, rpB, 'tina');
        const url = new URL(formAction(s.page.text, '/register'), s.page.url).toString();
        const csrf = hiddenValue(s.page.text, 'csrf');
        assert.doesNotMatch(s.page.text, /kind-office_phone|kind-security_questions/);
        const mailsBefore = smtp.messages.length;
        const smsBefore = gateway.received.length;
        const unchanged = async (what: string) => {
          const account = (await b.services.accounts.get(s.accountId))!;
          assert.deepEqual(account.methods, [], `${what}: no method stored`);
          assert.equal(account.registrationPostponed, undefined, `${what}: not postponed`);
        };

        const raw = async (body: string) => {
          const res = await s.browser.agent.post(new URL(url).pathname).type('form').send(body).redirects(0);
          return { status: res.status, text: res.text ?? '' };
        };

        for (const kind of ['office_phone', 'security_questions', '__proto__', 'constructor', 'toString', 'EMAIL', '']) {
          const page = await s.browser.post(url, { csrf, action: 'choose', kind });
          assert.equal(page.status, 400, `kind=${kind}`);
          assert.match(page.text, /Choose one of the methods shown/, `kind=${kind}`);
          await unchanged(`kind=${kind}`);
        }
        for (const body of [`kind[]=email`, `kind=email&kind=email`, `kind[a]=email`, `kind[__proto__]=email`]) {
          const page = await raw(`csrf=${encodeURIComponent(csrf)}&action=choose&${body}`);
          assert.equal(page.status, 400, body);
          assert.match(page.text, /Choose one of the methods shown/, body);
          await unchanged(body);
        }
        for (const action of ['frobnicate', '__proto__', '']) {
          const page = await s.browser.post(url, { csrf, action, kind: 'email' });
          assert.equal(page.status, 400, `action=${action}`);
          assert.match(page.text, /<p role="alert">The request is malformed\.<\/p>/, `action=${action} says what went wrong`);
          await unchanged(`action=${action}`);
        }
        for (const action of ['finish', 'start', 'resend']) {
          const page = await s.browser.post(url, { csrf, action, code: '12345678', email: 'tina@example.org' });
          assert.equal(page.status, 400, `${action} without a pending step`);
          assert.match(page.text, /<div class="alert" role="alert">(That code has expired|Choose one of the methods shown)/, action);
          assert.match(page.text, /Set up account recovery/, `${action}: the chooser is shown again`);
          await unchanged(`${action} without a pending step`);
        }

        const noCsrf = await s.browser.post(url, { action: 'choose', kind: 'email' });
        assert.equal(noCsrf.status, 403);
        assert.match(noCsrf.text, /The form expired or was sent from elsewhere/);
        const emptyCsrf = await s.browser.post(url, { csrf: '', action: 'choose', kind: 'email' });
        assert.equal(emptyCsrf.status, 403);

        // The CSRF token of another user's interaction does not work on this one.
        const other = await atChooser(b, rpB, 'toby');
        const otherCsrf = hiddenValue(other.page.text, 'csrf');
        assert.notEqual(otherCsrf, csrf);
        const foreign = await s.browser.post(url, { csrf: otherCsrf, action: 'choose', kind: 'email' });
        assert.equal(foreign.status, 403);
        assert.match(foreign.text, /The form expired or was sent from elsewhere/);
        // Nor this user's token on the other's interaction, with the other's cookies.
        const otherUrl = new URL(formAction(other.page.text, '/register'), other.page.url).toString();
        const crossed = await other.browser.post(otherUrl, { csrf, action: 'postpone' });
        assert.equal(crossed.status, 403);
        await unchanged('foreign csrf');
        assert.deepEqual((await b.services.accounts.get(other.accountId))!.methods, []);
        assert.equal((await b.services.accounts.get(other.accountId))!.registrationPostponed, undefined);

        assert.equal(smtp.messages.length, mailsBefore, 'nothing was sent');
        assert.equal(gateway.received.length, smsBefore, 'nothing was sent');

        // The interaction is still usable after all this.
        const chooser = await s.browser.open(`${b.url}/interaction/${new URL(url).pathname.split('/')[2]}`, b.redirectUri);
        assert.equal(chooser.status, 200);
        assert.match(chooser.text, /Set up account recovery/);
        const form = await post(s, chooser, { action: 'choose', kind: 'email' });
        assert.equal(form.status, 200);
        assert.match(form.text, /autocomplete="email"/);
      });
    });

    describe('postponing', () => {
      it('with SSPR_POSTPONE_LIMIT=1 "Not now" finishes the sign-in once; the next sign-in no longer offers it', async () => {
        const s = await atChooser(a, rpA, 'nora');
        assert.match(s.page.text, /Not now/);
        const done = await post(s, s.page, { action: 'postpone' }, a.redirectUri);
        assert.ok(done.location?.startsWith(a.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
        assert.deepEqual((await rpA.finish(s.flow, done.location!)).claims()!.amr, ['pwd']);
        const stored = (await a.services.accounts.get(s.accountId))!;
        assert.equal(stored.registrationPostponed, 1);
        assert.deepEqual(stored.methods, []);

        const again = await signIn(a, rpA, 'nora');
        const chooser = await passBootstrap(a, again, s.accountId);
        assert.doesNotMatch(chooser.text, /Not now/);
        assert.doesNotMatch(chooser.text, /name="action" value="postpone"/);
        const forged = await post(again, chooser, { action: 'postpone' }, a.redirectUri);
        assert.equal(forged.status, 400);
        assert.ok(!forged.location, 'a forged postpone does not finish the sign-in');
        assert.match(forged.text, /This method is not available for your account/);
        assert.equal((await a.services.accounts.get(s.accountId))!.registrationPostponed, 1);
      });
    });
  });
}
