/**
 * "Forgot password?" edge cases through the real pages, with a real SMTP server and the SMS
 * gateway stand-in: one proof of each strong kind (SMS, voice, authenticator, recovery code),
 * two proofs with security questions (drawn once per flow), questions never the only proof,
 * concurrent submissions (one winner), foreign and forged cookies, skipped steps, bad bodies,
 * and a Redis outage in the middle of a reset (503, nothing half-applied).
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { generateSecret } from 'otplib';
import { totpNow } from '../support/totp.ts';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, hiddenValue, type Page } from '../support/browser.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, type SmsGateway, TEST_TWILIO, twilioEnv } from '../support/sms-gateway.ts';
import { startRedisServer, type RedisProcess } from '../support/redis.ts';
import { BUILT_IN_QUESTIONS } from '../../src/domain/methods/questions.ts';
import type { MethodContext, MethodRecord } from '../../src/domain/methods/types.ts';

const OLD = 'copper-finch-sings-early';
const NEW = 'violet-harbour-kites-drift';
const NEWER = 'amber-valley-otters-glide';
const SID = TEST_TWILIO.accountSid;
const TOKEN = TEST_TWILIO.authToken;

/** Five registered questions (three are asked), with their answers. */
const QUESTIONS = BUILT_IN_QUESTIONS.slice(0, 5).map((q, i) => ({ ...q, answer: `answer number ${i + 1}` }));

/** The `ref` of the method whose label starts with `label` on a choose page. */
function refOf(page: Page, label: string): string {
  const m = new RegExp(`id="ref-(m\\d+)" value="\\1"[^>]*>\\s*<label[^>]*>${label}`).exec(page.text);
  if (!m) throw new Error(`no method "${label}" offered:\n${page.text.slice(0, 3000)}`);
  return m[1]!;
}

/** The questions a proof page asks, in order. */
function askedQuestions(page: Page): string[] {
  return [...page.text.matchAll(/<label for="answer_\d">([^<]+)<\/label>/g)].map((m) => m[1]!);
}

function answersFor(page: Page): Record<string, string> {
  const answers: Record<string, string> = {};
  askedQuestions(page).forEach((text, i) => {
    const q = QUESTIONS.find((x) => x.text === text);
    if (!q) throw new Error(`unexpected question ${text}`);
    answers[`answer_${i + 1}`] = q.answer;
  });
  return answers;
}

/** A cookie value signed the way koa's cookies (keygrip, HMAC-SHA1) sign it. */
function signed(name: string, value: string, key: string): string {
  const sig = createHmac('sha1', key).update(`${name}=${value}`).digest('base64').replace(/\//g, '_').replace(/\+/g, '-').replace(/=+$/, '');
  return `${name}=${value}; ${name}.sig=${sig}`;
}

for (const backend of BACKENDS) {
  describe(`password reset edge cases on ${backend}`, function () {
    this.timeout(90_000);
    let smtp: TestSmtpServer;
    let gateway: SmsGateway;
    /** One proof (the default policy), every method on, security questions included. */
    let t: TestApp;
    /** Two proofs for everyone. */
    let t2: TestApp;
    let phones = 0;

    const env = () => ({
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,mobile_phone,authenticator_app,security_questions,recovery_codes',
      SSPR_QUESTIONS_REGISTER: '5',
      SSPR_QUESTIONS_ANSWER: '3',
      ...twilioEnv(gateway),
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
    });

    before(async () => {
      smtp = await startSmtpServer();
      gateway = await startSmsGateway({ accountSid: SID, authToken: TOKEN, webhookSecret: 'w'.repeat(32) });
      t = await startTestApp(env(), {}, backend);
      t2 = await startTestApp({ ...env(), SSPR_PROOFS_REQUIRED: '2' }, {}, backend);
    });
    after(async () => {
      await t?.close();
      await t2?.close();
      await smtp?.stop();
      await gateway?.stop();
    });

    function registerCtx(app: TestApp, id: string, login: string): MethodContext {
      return { accountId: id, login, admin: false, clock: app.services.clock, ip: '127.0.0.1', purpose: 'register' };
    }

    /** An account with the given method records (built once the account id is known). */
    async function seed(app: TestApp, login: string, build: (id: string) => Promise<MethodRecord[]> | MethodRecord[]): Promise<string> {
      const { account } = await app.services.accounts.create({ login, email: `${login}@example.com`, password: OLD });
      const methods = await build(account.id);
      const now = app.services.clock();
      await app.services.accounts.update(account.id, (a) => ({ ...a, methods, bootstrapProvenAt: now }));
      return account.id;
    }

    const now = () => t.services.clock();
    const phone = (): MethodRecord => {
      phones += 1;
      return { id: randomBytes(6).toString('hex'), kind: 'mobile_phone', e164: `+4860123${String(4500 + phones).padStart(4, '0')}`, country: 'PL', registeredAt: now(), confirmedAt: now() };
    };
    const emailMethod = (login: string): MethodRecord => ({ id: `e-${login}`, kind: 'email', address: `${login}.private@example.org`, registeredAt: now(), confirmedAt: now() });
    function totpMethod(app: TestApp): { record: MethodRecord; secret: string } {
      const secret = generateSecret();
      return { secret, record: { id: randomBytes(6).toString('hex'), kind: 'authenticator_app', secret: app.services.box.seal(secret), lastStep: 0, registeredAt: now(), confirmedAt: now() } };
    }

    async function recoveryCodes(app: TestApp, id: string, login: string): Promise<{ record: MethodRecord; codes: string[] }> {
      const method = app.services.methods.get('recovery_codes')!;
      const ctx = registerCtx(app, id, login);
      const started = await method.startRegistration(ctx, {});
      assert.ok(started.ok);
      const finished = await method.finishRegistration(ctx, started.value.pending, { saved: 'yes' });
      assert.ok(finished.ok);
      return { record: finished.value, codes: started.value.display.codes! };
    }

    async function securityQuestions(app: TestApp, id: string, login: string): Promise<MethodRecord> {
      const method = app.services.methods.get('security_questions')!;
      const ctx = registerCtx(app, id, login);
      const started = await method.startRegistration(ctx, {});
      assert.ok(started.ok);
      const input: Record<string, string> = {};
      QUESTIONS.forEach((q, i) => {
        input[`question_${i + 1}`] = q.id;
        input[`answer_${i + 1}`] = q.answer;
      });
      const finished = await method.finishRegistration(ctx, started.value.pending, input);
      assert.ok(finished.ok, JSON.stringify(finished));
      return finished.value;
    }

    async function startReset(app: TestApp, browser: Browser, identifier: string): Promise<Page> {
      const form = await browser.open('/reset');
      const page = await browser.submit(form, '/reset', { identifier });
      assert.equal(page.status, 200, page.text.slice(0, 500));
      return page;
    }

    async function finishWithPassword(browser: Browser, page: Page, password: string): Promise<Page> {
      assert.match(page.text, /Choose a new password/);
      const done = await browser.submit(page, '/reset/flow', { password, confirm: password });
      assert.equal(done.status, 200, done.text.slice(0, 500));
      assert.match(done.text, /Password changed/);
      return done;
    }

    async function signsIn(app: TestApp, login: string, password: string): Promise<boolean> {
      return (await app.services.accounts.authenticate(login, password, `10.9.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`)).outcome === 'ok';
    }

    it('one proof by SMS code: the text arrives through the gateway, the password changes', async () => {
      const number = phone();
      await seed(t, 'sms-sue', () => [number]);
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'sms-sue');
      assert.match(choose.text, /Mobile phone, call me instead/);
      const before = gateway.received.length;
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: refOf(choose, 'Mobile phone<') });
      assert.match(prove.text, /We sent a code to \+48/);
      const sms = await gateway.waitFor((m) => m.to === (number as { e164: string }).e164 && gateway.received.indexOf(m) >= before);
      assert.equal(sms.kind, 'twilio-sms');
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: digitsIn(sms.text, 6) });
      await finishWithPassword(browser, pw, NEW);
      assert.ok(await signsIn(t, 'sms-sue', NEW));
      assert.ok(!(await signsIn(t, 'sms-sue', OLD)));
    });

    it('one proof by voice call: "call me instead" rings the same number with the code spelled out', async () => {
      const number = phone();
      await seed(t, 'voice-val', () => [number]);
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'voice-val');
      const voiceRef = /id="ref-m\d+-voice" value="(m\d+\.voice)"/.exec(choose.text)![1]!;
      const before = gateway.received.length;
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: voiceRef });
      assert.equal(prove.status, 200, prove.text.slice(0, 400));
      const call = await gateway.waitFor((m) => m.to === (number as { e164: string }).e164 && gateway.received.indexOf(m) >= before);
      assert.equal(call.kind, 'twilio-voice');
      assert.equal(call.channel, 'voice');
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: digitsIn(call.text, 6) });
      await finishWithPassword(browser, pw, NEW);
      assert.ok(await signsIn(t, 'voice-val', NEW));
    });

    it('one proof by authenticator app', async () => {
      const app = totpMethod(t);
      await seed(t, 'app-ada', () => [app.record]);
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'app-ada');
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: refOf(choose, 'Authenticator app') });
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(app.secret) });
      await finishWithPassword(browser, pw, NEW);
      assert.ok(await signsIn(t, 'app-ada', NEW));
    });

    it('one proof by recovery code; the used code never works again', async () => {
      let codes: string[] = [];
      const id = await seed(t, 'codes-cai', async (accountId) => {
        const rc = await recoveryCodes(t, accountId, 'codes-cai');
        codes = rc.codes;
        return [rc.record];
      });
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'codes-cai');
      assert.match(choose.text, /Recovery codes \(10 left\)/);
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: refOf(choose, 'Recovery codes') });
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: codes[0]!.toUpperCase() });
      await finishWithPassword(browser, pw, NEW);
      assert.ok(await signsIn(t, 'codes-cai', NEW));

      const again = new Browser(t.url);
      const choose2 = await startReset(t, again, 'codes-cai');
      assert.match(choose2.text, /Recovery codes \(9 left\)/);
      const prove2 = await again.submit(choose2, '/reset/flow', { action: 'choose', ref: refOf(choose2, 'Recovery codes') });
      const reused = await again.submit(prove2, '/reset/flow', { action: 'finish', code: codes[0]! });
      assert.equal(reused.status, 400);
      assert.match(reused.text, /That code was already used/);
      const pw2 = await again.submit(reused, '/reset/flow', { action: 'finish', code: codes[1]! });
      await finishWithPassword(again, pw2, NEWER);
      assert.ok(await signsIn(t, 'codes-cai', NEWER));
      const record = (await t.services.accounts.get(id))!.methods[0] as { codes: { usedAt?: number }[] };
      assert.equal(record.codes.filter((c) => c.usedAt !== undefined).length, 2);
    });

    it('two proofs with security questions: drawn once per flow, then a strong proof', async () => {
      const app = totpMethod(t2);
      await seed(t2, 'quinn', async (id) => [emailMethod('quinn'), app.record, await securityQuestions(t2, id, 'quinn')]);
      const browser = new Browser(t2.url);
      const choose = await startReset(t2, browser, 'quinn');
      assert.match(choose.text, /\(0 of 2 done\)/);
      const questionsRef = refOf(choose, 'Security questions');
      const first = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: questionsRef });
      const asked = askedQuestions(first);
      assert.equal(asked.length, 3);
      // Back, and the questions again: the same three, in the same order.
      const back = await browser.submit(first, '/reset/flow', { action: 'back' });
      assert.match(back.text, /Prove it is you/);
      const second = await browser.submit(back, '/reset/flow', { action: 'choose', ref: questionsRef });
      assert.deepEqual(askedQuestions(second), asked, 'questions are drawn once per flow');
      const wrong = await browser.submit(second, '/reset/flow', { action: 'finish', answer_1: 'nope', answer_2: 'nope', answer_3: 'nope' });
      assert.equal(wrong.status, 400);
      assert.match(wrong.text, /One or more answers are not right/);
      assert.deepEqual(askedQuestions(wrong), asked, 'a wrong answer does not draw new questions');

      const next = await browser.submit(wrong, '/reset/flow', { action: 'finish', ...answersFor(wrong) });
      assert.match(next.text, /\(1 of 2 done\)/);
      assert.doesNotMatch(next.text, /Security questions/, 'a proven method is not offered again');
      assert.doesNotMatch(next.text, /Email/, 'the last proof must be strong: a weak email is not offered');
      const prove = await browser.submit(next, '/reset/flow', { action: 'choose', ref: refOf(next, 'Authenticator app') });
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(app.secret) });
      await finishWithPassword(browser, pw, NEW);
      assert.ok(await signsIn(t2, 'quinn', NEW));
    });

    it('security questions are never the only proof: with one proof required they are not offered, and cannot be chosen', async () => {
      await seed(t, 'wes', async (id) => [emailMethod('wes'), await securityQuestions(t, id, 'wes')]);
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'wes');
      assert.match(choose.text, /\(0 of 1 done\)/);
      assert.match(choose.text, /Email/);
      assert.doesNotMatch(choose.text, /Security questions/);
      assert.doesNotMatch(choose.text, /id="ref-m1"/);
      // A hand-made form choosing them anyway.
      const forced = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: 'm1' });
      assert.equal(forced.status, 400);
      assert.match(forced.text, /Choose one of the methods shown/);
      assert.doesNotMatch(forced.text, /<label for="answer_1">/);
      // The email code alone suffices (the account has no strong method).
      const sent = smtp.messages.length;
      const prove = await browser.submit(forced, '/reset/flow', { action: 'choose', ref: refOf(forced, 'Email') });
      const mail = await smtp.waitFor((m) => m.to.includes('wes.private@example.org') && smtp.messages.indexOf(m) >= sent);
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: codeIn(mail, 8) });
      await finishWithPassword(browser, pw, NEW);
    });

    it('50 concurrent submissions of the same right code: exactly one moves the flow forward, the rest get 4xx, nothing is blocked', async () => {
      const number = phone();
      const id = await seed(t, 'rush', () => [number]);
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'rush');
      const before = gateway.received.length;
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: refOf(choose, 'Mobile phone<') });
      const sms = await gateway.waitFor((m) => m.to === (number as { e164: string }).e164 && gateway.received.indexOf(m) >= before);
      const code = digitsIn(sms.text, 6);
      const csrf = hiddenValue(prove.text, 'csrf');
      const results = await Promise.all(Array.from({ length: 50 }, () => browser.post('/reset/flow', { csrf, action: 'finish', code })));
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 303).length, 1, `one winner: ${statuses.join(',')}`);
      assert.ok(statuses.every((s) => s === 303 || (s >= 400 && s < 500)), statuses.join(','));
      for (const r of results.filter((x) => x.status === 409)) assert.match(r.text, /already being processed|not available now/);
      const page = await browser.open('/reset/flow');
      assert.equal(page.status, 200);
      assert.match(page.text, /Choose a new password/, 'the flow moved forward and stayed there');
      const failed = (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === id && e.type === 'reset.proof_failed');
      assert.equal(failed.length, 0, 'a repeated right code is not a failed proof');
      await finishWithPassword(browser, page, NEW);
      assert.ok(await signsIn(t, 'rush', NEW));
    });

    it('20 concurrent submissions of the same authenticator code: one proof, the time step is not replayed', async () => {
      const app = totpMethod(t);
      const id = await seed(t, 'twins', () => [app.record]);
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'twins');
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: refOf(choose, 'Authenticator app') });
      const csrf = hiddenValue(prove.text, 'csrf');
      const code = await totpNow(app.secret);
      const results = await Promise.all(Array.from({ length: 20 }, () => browser.post('/reset/flow', { csrf, action: 'finish', code })));
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 303).length, 1, `one winner: ${statuses.join(',')}`);
      assert.ok(statuses.every((s) => s === 303 || (s >= 400 && s < 500)), statuses.join(','));
      const page = await browser.open('/reset/flow');
      assert.match(page.text, /Choose a new password/);
      const failed = (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === id && e.type === 'reset.proof_failed');
      assert.equal(failed.length, 0);
    });

    it('parallel final submits commit exactly once: one reset.completed, the winning password', async () => {
      const app = totpMethod(t);
      const id = await seed(t, 'race', () => [app.record]);
      const browser = new Browser(t.url);
      const choose = await startReset(t, browser, 'race');
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: refOf(choose, 'Authenticator app') });
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(app.secret) });
      assert.match(pw.text, /Choose a new password/);
      const csrf = hiddenValue(pw.text, 'csrf');
      const passwords = Array.from({ length: 10 }, (_, i) => `parallel-${i}-lantern-meadow-drifts`);
      const results = await Promise.all(passwords.map((p) => browser.post('/reset/flow', { csrf, password: p, confirm: p })));
      const statuses = results.map((r) => r.status);
      // The winner is answered with the done page itself; the others are told the step is taken.
      const winners = statuses.flatMap((s, i) => (s === 200 ? [i] : []));
      assert.equal(winners.length, 1, `one commit: ${statuses.join(',')}`);
      assert.match(results[winners[0]!]!.text, /Password changed/);
      assert.ok(statuses.every((s) => s === 200 || s === 409), statuses.join(','));
      const completed = (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === id && e.type === 'reset.completed');
      assert.equal(completed.length, 1);
      const winner = passwords[winners[0]!]!;
      assert.ok(await signsIn(t, 'race', winner), 'the winning password is the one set');
      for (const p of passwords.filter((x) => x !== winner).slice(0, 3)) assert.ok(!(await signsIn(t, 'race', p)), `${p} lost`);
      assert.ok(!(await signsIn(t, 'race', OLD)));
      const page = await browser.open('/reset/flow');
      assert.match(page.text, /Password changed/);
    });

    it('another browser, a forged cookie, a skipped step, bad bodies and an unknown ref: clear 4xx and nothing changes', async () => {
      const app = totpMethod(t);
      const id = await seed(t, 'edgar', () => [app.record]);
      const hash = (await t.services.accounts.get(id))!.passwordHash;
      const browser = new Browser(t.url);
      // Start by hand to see the flow cookie the browser gets.
      const form = await browser.open('/reset');
      const started = await browser.agent.post('/reset').type('form').send({ csrf: hiddenValue(form.text, 'csrf'), identifier: 'edgar' }).redirects(0);
      assert.equal(started.status, 303);
      const flowCookie = ([] as string[]).concat(started.headers['set-cookie'] ?? []).find((c) => c.startsWith('rekey_reset='))!;
      const [handle, secret] = /^rekey_reset=([^.;]+)\.([^;]+);/.exec(flowCookie)!.slice(1) as [string, string];
      const choose = await browser.open('/reset/flow');
      assert.match(choose.text, /Prove it is you/);
      const csrf = hiddenValue(choose.text, 'csrf');
      const stillInChoose = async () => assert.match((await browser.open('/reset/flow')).text, /Prove it is you/);

      // Another browser (no cookie): the expired page, for GET and POST.
      const other = new Browser(t.url);
      const otherGet = await other.get('/reset/flow');
      assert.equal(otherGet.status, 410);
      assert.match(otherGet.text, /has expired or is no longer valid/);
      const otherPost = await other.post('/reset/flow', { csrf, action: 'choose', ref: 'm0' });
      assert.equal(otherPost.status, 410);

      // Forged cookies: unsigned, signed with a wrong key, and signed right but with a wrong secret.
      const key = t.services.keys.cookieKeys[0]!;
      const genuine = await request(t.url).get('/reset/flow').set('Cookie', signed('rekey_reset', `${handle}.${secret}`, key));
      assert.equal(genuine.status, 200, 'control: the real value, signed right, is accepted');
      for (const cookie of [
        `rekey_reset=${handle}.${secret}`,
        signed('rekey_reset', `${handle}.${secret}`, 'not-the-cookie-key-0123456789abcdef'),
        signed('rekey_reset', `${handle}.${'A'.repeat(secret.length)}`, key),
        signed('rekey_reset', `${'B'.repeat(handle.length)}.${secret}`, key),
      ]) {
        const res = await request(t.url).post('/reset/flow').set('Cookie', cookie).type('form').send({ csrf, action: 'choose', ref: 'm0' });
        assert.ok(res.status === 410 || res.status === 403, `${cookie}: ${res.status}`);
        const get = await request(t.url).get('/reset/flow').set('Cookie', cookie);
        assert.equal(get.status, 410, cookie);
        assert.match(get.text, /has expired or is no longer valid/);
      }
      await stillInChoose();

      // A skipped step: the new password while still choosing a method.
      const skipped = await browser.post('/reset/flow', { csrf, password: NEW, confirm: NEW });
      assert.equal(skipped.status, 409);
      assert.match(skipped.text, /That step is not available now/);
      assert.equal((await t.services.accounts.get(id))!.passwordHash, hash, 'nothing changed');

      // Bad bodies.
      const big = await browser.agent.post('/reset/flow').type('form').send({ csrf, action: 'choose', ref: 'm0', pad: 'x'.repeat(40_000) }).redirects(0);
      assert.equal(big.status, 413);
      assert.match(big.text, /too large/);
      const malformed = await browser.agent.post('/reset/flow').set('Content-Type', 'application/json').send('{"csrf": "').redirects(0);
      assert.equal(malformed.status, 400);
      assert.match(String(malformed.headers['content-type']), /html/);
      const nested = await browser.agent.post('/reset/flow').set('Content-Type', 'application/json').send(JSON.stringify({ csrf: { $ne: '' }, action: 'choose', ref: 'm0' })).redirects(0);
      assert.equal(nested.status, 403);
      const plain = await browser.agent.post('/reset/flow').set('Content-Type', 'text/plain').send(`csrf=${csrf}&action=choose&ref=m0`).redirects(0);
      assert.equal(plain.status, 415);
      const weird = await browser.post('/reset/flow', { csrf, action: 'teleport' });
      assert.equal(weird.status, 400);
      await stillInChoose();

      // An unknown ref.
      const unknown = await browser.post('/reset/flow', { csrf, action: 'choose', ref: 'm99' });
      assert.equal(unknown.status, 400);
      assert.match(unknown.text, /Choose one of the methods shown/);
      const odd = await browser.post('/reset/flow', { csrf, action: 'choose', ref: 'm0.fax' });
      assert.equal(odd.status, 400);
      await stillInChoose();
      assert.equal((await t.services.accounts.get(id))!.passwordHash, hash, 'nothing changed');

      // And the flow still works to the end.
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: refOf(choose, 'Authenticator app') });
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(app.secret) });
      await finishWithPassword(browser, pw, NEW);
    });
  });
}

describe('password reset during a Redis outage', function () {
  this.timeout(90_000);
  let redis: RedisProcess;
  let dir: string;
  let t: TestApp;
  let smtp: TestSmtpServer;
  // Persistence on, so a stopped Redis comes back with its data, as a real one would.
  const persist = () => ['--save', '60 1'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-reset-outage-'));
    redis = await startRedisServer({ dir, args: persist() });
    smtp = await startSmtpServer();
    t = await startTestApp({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `reset-outage-${randomBytes(4).toString('hex')}:`,
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,authenticator_app,recovery_codes',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
    });
  });
  after(async () => {
    await t?.close();
    await redis?.stop();
    await smtp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a new password submitted while Redis is down gets a 503 page, the old password stays, and the reset finishes once Redis is back', async () => {
    assert.equal(t.services.store.backend, 'redis');
    const secret = generateSecret();
    const { account } = await t.services.accounts.create({ login: 'otto', email: 'otto@example.com', password: OLD });
    const at = t.services.clock();
    await t.services.accounts.update(account.id, (a) => ({
      ...a,
      methods: [{ id: 'app', kind: 'authenticator_app', secret: t.services.box.seal(secret), lastStep: 0, registeredAt: at, confirmedAt: at }],
      bootstrapProvenAt: at,
    }));
    const oldHash = (await t.services.accounts.get(account.id))!.passwordHash;

    const browser = new Browser(t.url);
    const form = await browser.open('/reset');
    const choose = await browser.submit(form, '/reset', { identifier: 'otto' });
    const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: 'm0' });
    const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(secret) });
    assert.match(pw.text, /Choose a new password/);

    await redis.stop();
    const started = Date.now();
    const failed = await browser.submit(pw, '/reset/flow', { password: NEW, confirm: NEW });
    assert.equal(failed.status, 503, failed.text.slice(0, 300));
    assert.match(failed.text, /temporarily unavailable/);
    assert.doesNotMatch(failed.text, /ECONNREFUSED|ioredis|at .*\.ts:\d+/, 'no internals leak');
    assert.ok(Date.now() - started < 8_000, 'the error comes fast');

    redis = await startRedisServer({ port: redis.port, dir, args: persist() });
    const deadline = Date.now() + 15_000;
    while ((await browser.get('/readyz')).status !== 200) {
      if (Date.now() > deadline) throw new Error('not ready after Redis came back');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await t.services.accounts.get(account.id))!.passwordHash, oldHash, 'nothing was half-applied');
    assert.equal((await t.services.accounts.authenticate('otto', OLD, '10.7.0.1')).outcome, 'ok', 'the old password still works');
    const completed = (await t.services.audit.recent({ limit: 200 })).filter((e) => e.accountId === account.id && e.type === 'reset.completed');
    assert.equal(completed.length, 0);

    // The flow survived the outage: the same page, submitted again, finishes the reset.
    const again = await browser.open('/reset/flow');
    assert.match(again.text, /Choose a new password/);
    const done = await browser.submit(again, '/reset/flow', { password: NEW, confirm: NEW });
    assert.equal(done.status, 200, done.text.slice(0, 300));
    assert.match(done.text, /Password changed/);
    assert.equal((await t.services.accounts.authenticate('otto', NEW, '10.7.0.2')).outcome, 'ok');
  });
});
