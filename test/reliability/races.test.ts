/**
 * Races, on every store backend: one right code submitted 50 times at once gives exactly one
 * success (second factor, bootstrap, registration, reset pages, JSON API, My security info),
 * and neither counts the losers as failures nor locks anybody out; a TOTP code or a recovery
 * code used in several sign-ins or resets at once works once; parallel sends beyond a send
 * limit deliver exactly the allowed number (counted at the SMTP server and the SMS gateway);
 * parallel completions of one reset flow (API, and pages and API mixed) commit once.
 *
 * Already covered elsewhere and not repeated here: 50 concurrent right SMS codes and 20
 * concurrent authenticator codes in one reset flow, and parallel final submits of the pages
 * (test/reset/reset-edge.test.ts); store-level races (test/contract/store.contract.ts).
 */
import assert from 'node:assert/strict';
import { totpNow } from '../support/totp.ts';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, type SmsGateway, TEST_TWILIO, twilioEnv } from '../support/sms-gateway.ts';
import { securityInfoClient } from '../support/security-info-client.ts';
import { Invitations } from '../../src/domain/invitations.ts';
import type { MethodKind, MethodRecord } from '../../src/domain/methods/types.ts';
import {
  PASSWORD,
  api,
  apiRef,
  auditOf,
  countEvents,
  factorRef,
  resetBinding,
  resetRef,
  seedAccount,
  signInWithPassword,
  sleep,
  startResetApi,
  startResetPage,
  tally,
  together,
  type Seeded,
} from './helpers.ts';

const N = 50;
const NEW = 'violet-harbour-kites-drift';
const METHODS = 'email,mobile_phone,authenticator_app,recovery_codes';

for (const backend of BACKENDS) {
  describe(`races on ${backend}`, function () {
    this.timeout(120_000);
    let smtp: TestSmtpServer;
    let gateway: SmsGateway;
    /** Two factors for everyone; email counts as a second factor too. */
    let mfa: TestApp;
    let mfaRp: RelyingParty;
    /** Everyone in SSPR scope (registration, reset, My security info); one factor. */
    let sspr: TestApp;
    let ssprRp: RelyingParty;

    before(async () => {
      smtp = await startSmtpServer();
      gateway = await startSmsGateway({ accountSid: TEST_TWILIO.accountSid, authToken: TEST_TWILIO.authToken, webhookSecret: 'r'.repeat(32) });
      const common = {
        SMTP_URL: smtp.url,
        DEV_OUTBOX: 'false',
        ...twilioEnv(gateway),
        SSPR_METHODS: METHODS,
        // Every request comes from 127.0.0.1: keep the per-IP limits out of the way.
        SIGNIN_IP_MAX_FAILURES: '100000',
        RESET_STARTS_PER_IP: '10000',
        EMAIL_SEND_LIMIT: '3',
        PHONE_SEND_LIMIT: '2',
      };
      mfa = await startTestApp({ ...common, TWO_FACTOR: 'all', TWO_FACTOR_METHODS: METHODS }, {}, backend);
      mfaRp = await RelyingParty.discover(mfa.url, mfa.redirectUri);
      sspr = await startTestApp({ ...common, SSPR_SCOPE: 'all', SSPR_METHODS_REQUIRED: '1' }, {}, backend);
      ssprRp = await RelyingParty.discover(sspr.url, sspr.redirectUri);
    });
    after(async () => {
      await mfa?.close();
      await sspr?.close();
      await smtp?.stop();
      await gateway?.stop();
    });

    let n = 0;
    const login = (stem: string): string => `${stem}-${(n += 1)}`;
    const mailTo = (to: string, after = 0) => smtp.waitFor((m) => m.to.includes(to) && /code/i.test(m.subject) && smtp.messages.indexOf(m) >= after);
    const smsTo = (to: string, after = 0) => gateway.waitFor((m) => m.to === to && gateway.received.indexOf(m) >= after);
    const methodsOf = async (t: TestApp, id: string) => (await t.services.accounts.get(id))!.methods as MethodRecord[];

    /** The code a seeded account's method takes, once its challenge was started at `mailsBefore`/`smsBefore`. */
    async function codeFor(s: Seeded, kind: MethodKind, mailsBefore: number, smsBefore: number): Promise<string> {
      if (kind === 'authenticator_app') return totpNow(s.totp!);
      if (kind === 'recovery_codes') return s.codes![0]!;
      if (kind === 'email') return codeIn(await mailTo(s.email!, mailsBefore), 8);
      return digitsIn((await smsTo(s.phone!, smsBefore)).text, 6);
    }

    /** Statuses of a burst: every one a redirect (the winner, or a late loser sent back to the page) or a 4xx; never a 5xx. */
    function noServerErrors(statuses: number[], allowed: number[] = [303, 409]): void {
      assert.ok(statuses.every((s) => allowed.includes(s)), `statuses ${JSON.stringify(tally(statuses))}`);
    }

    describe(`one right code submitted ${N} times at once: exactly one success`, () => {
      const factors: [MethodKind, string, string][] = [
        ['authenticator_app', 'Authenticator app', 'otp'],
        ['email', 'Email', 'otp'],
        ['mobile_phone', 'Mobile phone', 'sms'],
        ['recovery_codes', 'Recovery codes', 'otp'],
      ];
      for (const [kind, label, amr] of factors) {
        it(`second factor by ${label}: one second_factor.succeeded, no failure counted, the sign-in finishes with ${amr}`, async () => {
          const s = await seedAccount(mfa, login('sf'), [kind]);
          const { browser, flow, page } = await signInWithPassword(mfa, mfaRp, s.login);
          assert.match(page.text, /Confirm it is you/);
          const mails = smtp.messages.length;
          const texts = gateway.received.length;
          const proof = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref: factorRef(page.text, label) });
          assert.equal(proof.status, 200, proof.text.slice(0, 300));
          const code = await codeFor(s, kind, mails, texts);
          const action = new URL(formAction(proof.text, '/second-factor'), proof.url).toString();
          const csrf = hiddenValue(proof.text, 'csrf');
          const results = await together(N, () => browser.post(action, { csrf, action: 'finish', code }));
          noServerErrors(results.map((r) => r.status));
          // A request that found the step busy says so, and to wait, not to start again.
          for (const busy of results.filter((r) => r.status === 409)) {
            assert.match(busy.text, /<title>Already in progress – /);
            assert.match(busy.text, /Wait a moment, then reload the page/);
            assert.doesNotMatch(busy.text, /start again/);
          }
          assert.equal(await countEvents(mfa, s.id, 'second_factor.succeeded'), 1, 'one success');
          assert.equal(await countEvents(mfa, s.id, 'second_factor.failed'), 0, 'a repeated right code is no failure');
          assert.equal(await mfa.services.accounts.failures(s.id), 0, 'nothing counts toward the lockout');
          assert.equal((await mfa.services.accounts.lockState(s.id)).locked, false);
          const done = await browser.open(new URL(proof.url).pathname, mfa.redirectUri);
          assert.ok(done.location?.startsWith(mfa.redirectUri), `the sign-in finishes: ${done.status} ${done.text.slice(0, 300)}`);
          const claims = (await mfaRp.finish(flow, done.location!)).claims()!;
          assert.deepEqual(claims.amr, ['pwd', amr, 'mfa']);
          if (kind === 'recovery_codes') {
            const codes = (await methodsOf(mfa, s.id)).find((m) => m.kind === 'recovery_codes');
            assert.equal(codes?.kind === 'recovery_codes' && codes.codes.filter((c) => c.usedAt !== undefined).length, 1, 'one code used');
          }
        });
      }

      for (const [kind, label] of [['authenticator_app', 'Authenticator app'], ['recovery_codes', 'Recovery codes']] as const) {
        it(`second factor: the same ${label} code in 8 sign-ins at once works in exactly one of them`, async () => {
          const s = await seedAccount(mfa, login('sf-multi'), [kind]);
          const proofs: { browser: Browser; page: Page }[] = [];
          for (let i = 0; i < 8; i += 1) {
            const { browser, page } = await signInWithPassword(mfa, mfaRp, s.login);
            proofs.push({ browser, page: await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref: factorRef(page.text, label) }) });
          }
          const code = await codeFor(s, kind, 0, 0);
          const results = await Promise.all(proofs.map(({ browser, page }) => browser.post(new URL(formAction(page.text, '/second-factor'), page.url).toString(), { csrf: hiddenValue(page.text, 'csrf'), action: 'finish', code })));
          const statuses = results.map((r) => r.status);
          assert.deepEqual(tally(statuses), { 303: 1, 400: 7 }, `one sign-in passes: ${JSON.stringify(tally(statuses))}`);
          assert.equal(await countEvents(mfa, s.id, 'second_factor.succeeded'), 1);
          const failed = (await auditOf(mfa, s.id)).filter((e) => e.type === 'second_factor.failed');
          assert.deepEqual([...new Set(failed.map((e) => e.reason))], ['code_used'], 'the others are refused as a used code');
        });
      }

      it('bootstrap code: one bootstrap.used, no failure', async () => {
        const name = login('boot');
        const { account } = await sspr.services.accounts.create({ login: name, email: `${name}@example.com`, password: PASSWORD });
        const mails = smtp.messages.length;
        const { browser, page } = await signInWithPassword(sspr, ssprRp, name);
        assert.match(page.text, /Confirm it is you/);
        const code = codeIn(await mailTo(`${name}@example.com`, mails), 8);
        const action = new URL(formAction(page.text, '/bootstrap'), page.url).toString();
        const csrf = hiddenValue(page.text, 'csrf');
        const results = await together(N, () => browser.post(action, { csrf, action: 'code', code }));
        noServerErrors(results.map((r) => r.status));
        assert.equal(await countEvents(sspr, account.id, 'bootstrap.used'), 1);
        assert.equal(await countEvents(sspr, account.id, 'bootstrap.failed'), 0);
        const next = await browser.open(new URL(page.url).pathname, sspr.redirectUri);
        assert.match(next.text, /Set up account recovery/, 'on to registration');
      });

      const registrations: [MethodKind, string][] = [
        ['email', 'an email code'],
        ['mobile_phone', 'an SMS code'],
        ['authenticator_app', 'an authenticator code'],
        ['recovery_codes', '"I saved the codes"'],
      ];
      for (const [kind, what] of registrations) {
        it(`registration at sign-in by ${what}: exactly one ${kind} method, one method.registered`, async () => {
          const name = login('reg');
          const { account } = await sspr.services.accounts.create({ login: name, email: `${name}@example.com`, password: PASSWORD });
          await sspr.services.accounts.update(account.id, (a) => ({ ...a, bootstrapProvenAt: sspr.services.clock() }));
          const { browser, page } = await signInWithPassword(sspr, ssprRp, name);
          assert.match(page.text, /Set up account recovery/);
          const post = (p: Page, fields: Record<string, string>) => browser.submit(p, formAction(p.text, '/register'), fields);
          let proof = await post(page, { action: 'choose', kind });
          let fields: Record<string, string>;
          const mails = smtp.messages.length;
          const texts = gateway.received.length;
          if (kind === 'email') {
            proof = await post(proof, { action: 'start', email: `${name}.alt@example.org` });
            fields = { code: codeIn(await mailTo(`${name}.alt@example.org`, mails), 8) };
          } else if (kind === 'mobile_phone') {
            const phone = `+48601${String(100000 + n).slice(-6)}`;
            proof = await post(proof, { action: 'start', phone, channel: 'sms' });
            fields = { code: digitsIn((await smsTo(phone, texts)).text, 6) };
          } else if (kind === 'authenticator_app') {
            const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(proof.text)![1]!.replace(/ /g, '');
            fields = { code: await totpNow(key) };
          } else {
            fields = { saved: 'yes' };
          }
          assert.equal(proof.status, 200, proof.text.slice(0, 300));
          const action = new URL(formAction(proof.text, '/register'), proof.url).toString();
          const csrf = hiddenValue(proof.text, 'csrf');
          const results = await together(N, () => browser.post(action, { csrf, action: 'finish', ...fields }));
          noServerErrors(results.map((r) => r.status));
          assert.deepEqual((await methodsOf(sspr, account.id)).map((m) => m.kind), [kind], 'one method registered');
          assert.equal(await countEvents(sspr, account.id, 'method.registered'), 1);
          assert.equal(await countEvents(sspr, account.id, 'method.registration_failed'), 0);
        });
      }

      for (const [kind, label] of [['email', 'Email'], ['recovery_codes', 'Recovery codes']] as const) {
        it(`reset pages, one flow, ${label}: one proof, the flow moves on, nothing blocked`, async () => {
          const s = await seedAccount(sspr, login('rp'), [kind]);
          const browser = new Browser(sspr.url);
          const choose = await startResetPage(browser, s.login);
          const mails = smtp.messages.length;
          const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, label) });
          assert.equal(prove.status, 200, prove.text.slice(0, 300));
          const code = await codeFor(s, kind, mails, 0);
          const csrf = hiddenValue(prove.text, 'csrf');
          const results = await together(N, () => browser.post('/reset/flow', { csrf, action: 'finish', code }));
          const statuses = results.map((r) => r.status);
          noServerErrors(statuses, [303, 409]);
          assert.equal(statuses.filter((x) => x === 303).length, 1, JSON.stringify(tally(statuses)));
          assert.equal(await countEvents(sspr, s.id, 'reset.proof_succeeded'), 1);
          assert.equal(await countEvents(sspr, s.id, 'reset.proof_failed'), 0);
          assert.match((await browser.open('/reset/flow')).text, /Choose a new password/);
        });
      }

      for (const [kind, label] of [['authenticator_app', 'Authenticator app'], ['recovery_codes', 'Recovery codes']] as const) {
        it(`reset pages: the same ${label} code in 5 flows at once proves exactly one of them`, async () => {
          const s = await seedAccount(sspr, login('rp-multi'), [kind]);
          const flows: { browser: Browser; page: Page }[] = [];
          // Five: the four losers stay below RESET_MAX_FAILED_PROOFS (a replay is a failed proof).
          for (let i = 0; i < 5; i += 1) {
            const browser = new Browser(sspr.url);
            const choose = await startResetPage(browser, s.login);
            flows.push({ browser, page: await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, label) }) });
          }
          const code = await codeFor(s, kind, 0, 0);
          const results = await Promise.all(flows.map(({ browser, page }) => browser.post('/reset/flow', { csrf: hiddenValue(page.text, 'csrf'), action: 'finish', code })));
          assert.deepEqual(tally(results.map((r) => r.status)), { 303: 1, 400: 4 });
          assert.equal(await countEvents(sspr, s.id, 'reset.proof_succeeded'), 1);
          const failed = (await auditOf(sspr, s.id)).filter((e) => e.type === 'reset.proof_failed');
          assert.deepEqual([...new Set(failed.map((e) => e.reason))], ['code_used']);
        });
      }

      for (const [kind, label] of [['email', 'email code'], ['authenticator_app', 'authenticator code']] as const) {
        it(`JSON API, one flow, ${label}: one 200, the flow at new_password, no failed proof`, async () => {
          const s = await seedAccount(sspr, login('api'), [kind]);
          const { flow, secret, view } = await startResetApi(sspr, s.login);
          const mails = smtp.messages.length;
          const chosen = await api(sspr, 'post', `/api/v1/resets/${flow}/choose`, { secret, body: { ref: apiRef(view, kind) } });
          assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
          const code = await codeFor(s, kind, mails, 0);
          const results = await together(N, () => api(sspr, 'post', `/api/v1/resets/${flow}/prove`, { secret, body: { code } }));
          const statuses = results.map((r) => r.status);
          assert.equal(statuses.filter((x) => x === 200).length, 1, JSON.stringify(tally(statuses)));
          noServerErrors(statuses, [200, 409]);
          for (const r of results.filter((x) => x.status === 409)) assert.ok(['reset_busy', 'reset_wrong_step'].includes(String(r.body.error)), JSON.stringify(r.body));
          assert.equal(await countEvents(sspr, s.id, 'reset.proof_succeeded'), 1);
          assert.equal(await countEvents(sspr, s.id, 'reset.proof_failed'), 0);
          assert.equal((await api(sspr, 'get', `/api/v1/resets/${flow}`, { secret })).body.state, 'new_password');
        });
      }

      it('JSON API: the same recovery code in 5 flows at once proves exactly one of them', async () => {
        const s = await seedAccount(sspr, login('api-multi'), ['recovery_codes']);
        const flows = [];
        for (let i = 0; i < 5; i += 1) {
          const started = await startResetApi(sspr, s.login);
          const chosen = await api(sspr, 'post', `/api/v1/resets/${started.flow}/choose`, { secret: started.secret, body: { ref: apiRef(started.view, 'recovery_codes') } });
          assert.equal(chosen.status, 200);
          flows.push(started);
        }
        const results = await Promise.all(flows.map((f) => api(sspr, 'post', `/api/v1/resets/${f.flow}/prove`, { secret: f.secret, body: { code: s.codes![0] } })));
        assert.deepEqual(tally(results.map((r) => r.status)), { 200: 1, 400: 4 });
        assert.ok(results.filter((r) => r.status === 400).every((r) => r.body.error === 'code_used'), JSON.stringify(results.map((r) => r.body.error)));
        assert.equal(await countEvents(sspr, s.id, 'reset.proof_succeeded'), 1);
      });

      it('invitation: the right code with a new password: one invite.accepted, the password set once', async () => {
        const name = login('inv');
        const { account } = await sspr.services.accounts.create({ login: name, email: `${name}@example.com`, name, noPassword: true });
        const mails = smtp.messages.length;
        await new Invitations(sspr.services).issue(account, { actor: 'cli' });
        const mail = await smtp.waitFor((m) => m.to.includes(`${name}@example.com`) && /invitation/i.test(m.subject) && smtp.messages.indexOf(m) >= mails);
        const code = /(?<![a-z0-9-])[a-hjkmnp-z2-9]{5}(?:-[a-hjkmnp-z2-9]{5}){3}(?![a-z0-9-])/.exec(mail.text)![0];
        const browser = new Browser(sspr.url);
        const form = await browser.open(`/invite?login=${name}`);
        const csrf = hiddenValue(form.text, 'csrf');
        const results = await together(N, (i) => browser.post('/invite', { csrf, identifier: name, code, password: `${NEW}-${i}`, confirm: `${NEW}-${i}` }));
        const statuses = results.map((r) => r.status);
        assert.ok(statuses.every((x) => x < 500), JSON.stringify(tally(statuses)));
        const won = results.flatMap((r, i) => (r.status === 200 && /Your password is set|password was set/i.test(r.text) ? [i] : []));
        assert.equal(won.length, 1, JSON.stringify(tally(statuses)));
        assert.equal(await countEvents(sspr, account.id, 'invite.accepted'), 1);
        assert.equal(await countEvents(sspr, account.id, 'password.changed', 'success'), 1);
        const signedIn = await sspr.services.accounts.authenticate(name, `${NEW}-${won[0]}`, '10.7.0.1');
        assert.equal(signedIn.outcome, 'ok', 'the winner set the password');
      });

      it('My security info: one security_info.proven, no failed proof, proving not blocked', async () => {
        const s = await seedAccount(sspr, login('si'), ['email']);
        const { signIn } = securityInfoClient(() => ({ t: sspr, rp: ssprRp, smtp }), PASSWORD);
        const browser = await signIn(s.login);
        const start = await browser.open('/account/security');
        const pick = await browser.submit(start, '/account/security/password', { password: PASSWORD });
        const methodId = /name="methodId" id="method-[^"]+" value="([^"]+)"/.exec(pick.text)![1]!;
        const mails = smtp.messages.length;
        const codePage = await browser.submit(pick, '/account/security/verify', { action: 'start', methodId });
        const code = codeIn(await mailTo(s.email!, mails), 8);
        const csrf = hiddenValue(codePage.text, 'csrf');
        const results = await together(N, () => browser.post('/account/security/verify', { csrf, action: 'finish', code }));
        noServerErrors(results.map((r) => r.status));
        assert.equal(await countEvents(sspr, s.id, 'security_info.proven'), 1);
        assert.equal(await countEvents(sspr, s.id, 'security_info.proof', 'failure'), 0);
        assert.equal(await countEvents(sspr, s.id, 'code.failed'), 0);
        const manage = await browser.open('/account/security');
        assert.match(manage.text, /Your methods/);
      });
    });

    describe('parallel sends beyond a send limit: exactly the allowed number delivered', () => {
      it('reset by email through the API, 8 flows choosing at once with EMAIL_SEND_LIMIT=3: 3 emails at the SMTP server, 5 × 429', async () => {
        const s = await seedAccount(sspr, login('send-mail'), ['email']);
        const flows = [];
        for (let i = 0; i < 8; i += 1) flows.push(await startResetApi(sspr, s.login));
        const results = await Promise.all(flows.map((f) => api(sspr, 'post', `/api/v1/resets/${f.flow}/choose`, { secret: f.secret, body: { ref: apiRef(f.view, 'email') } })));
        assert.deepEqual(tally(results.map((r) => r.status)), { 200: 3, 429: 5 });
        assert.ok(results.filter((r) => r.status === 429).every((r) => r.body.error === 'send_throttled'));
        await mailTo(s.email!);
        await sleep(500); // reset deliveries are asynchronous: give a fourth one the chance to show up
        assert.equal(smtp.messages.filter((m) => m.to.includes(s.email!)).length, 3);
        assert.equal(await countEvents(sspr, s.id, 'code.sent'), 3);
      });

      it('second factor by SMS, 6 sign-ins choosing at once with PHONE_SEND_LIMIT=2: 2 texts at the gateway, 4 × 429', async () => {
        const s = await seedAccount(mfa, login('send-sms'), ['mobile_phone']);
        const pages: { browser: Browser; page: Page }[] = [];
        for (let i = 0; i < 6; i += 1) pages.push(await signInWithPassword(mfa, mfaRp, s.login));
        const results = await Promise.all(
          pages.map(({ browser, page }) =>
            browser.post(new URL(formAction(page.text, '/second-factor'), page.url).toString(), { csrf: hiddenValue(page.text, 'csrf'), action: 'choose', ref: factorRef(page.text, 'Mobile phone') }),
          ),
        );
        assert.deepEqual(tally(results.map((r) => r.status)), { 303: 2, 429: 4 });
        await sleep(200);
        assert.equal(gateway.received.filter((m) => m.to === s.phone).length, 2);
      });

      it('registration of one address by 6 accounts at once with EMAIL_SEND_LIMIT=3 (per destination): 3 emails to it', async () => {
        const address = `shared-${n}@example.org`;
        const forms: { browser: Browser; page: Page }[] = [];
        for (let i = 0; i < 6; i += 1) {
          const name = login('send-dest');
          const { account } = await sspr.services.accounts.create({ login: name, email: `${name}@example.com`, password: PASSWORD });
          await sspr.services.accounts.update(account.id, (a) => ({ ...a, bootstrapProvenAt: sspr.services.clock() }));
          const { browser, page } = await signInWithPassword(sspr, ssprRp, name);
          forms.push({ browser, page: await browser.submit(page, formAction(page.text, '/register'), { action: 'choose', kind: 'email' }) });
        }
        const results = await Promise.all(
          forms.map(({ browser, page }) => browser.post(new URL(formAction(page.text, '/register'), page.url).toString(), { csrf: hiddenValue(page.text, 'csrf'), action: 'start', email: address })),
        );
        assert.deepEqual(tally(results.map((r) => r.status)), { 303: 3, 429: 3 });
        await sleep(200);
        assert.equal(smtp.messages.filter((m) => m.to.includes(address)).length, 3);
      });
    });

    describe('parallel completions of one reset flow: one commit', () => {
      async function provenApiFlow(s: Seeded): Promise<{ flow: string; secret: string }> {
        const { flow, secret, view } = await startResetApi(sspr, s.login);
        await api(sspr, 'post', `/api/v1/resets/${flow}/choose`, { secret, body: { ref: apiRef(view, 'authenticator_app') } });
        const proved = await api(sspr, 'post', `/api/v1/resets/${flow}/prove`, { secret, body: { code: await totpNow(s.totp!) } });
        assert.equal(proved.body.state, 'new_password', JSON.stringify(proved.body));
        return { flow, secret };
      }

      async function signsIn(login: string, password: string): Promise<boolean> {
        return (await sspr.services.accounts.authenticate(login, password, `10.8.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`)).outcome === 'ok';
      }

      it('JSON API, 10 passwords at once: one 200, the others 409; one reset.completed; the winner is the password', async () => {
        const s = await seedAccount(sspr, login('done-api'), ['authenticator_app']);
        const { flow, secret } = await provenApiFlow(s);
        const passwords = Array.from({ length: 10 }, (_, i) => `api-race-${i}-lantern-meadow-drifts`);
        const results = await Promise.all(passwords.map((p) => api(sspr, 'post', `/api/v1/resets/${flow}/password`, { secret, body: { password: p, confirm: p } })));
        const statuses = results.map((r) => r.status);
        assert.deepEqual(tally(statuses), { 200: 1, 409: 9 });
        assert.equal(await countEvents(sspr, s.id, 'reset.completed'), 1);
        const winner = passwords[statuses.indexOf(200)]!;
        assert.ok(await signsIn(s.login, winner));
        for (const p of passwords.filter((x) => x !== winner).slice(0, 3)) assert.ok(!(await signsIn(s.login, p)), `${p} lost`);
        assert.ok(!(await signsIn(s.login, PASSWORD)));
      });

      it('pages and API on the same flow, 5 + 5 passwords at once: one commit, one reset.completed, one "password was reset" notice per address', async () => {
        const s = await seedAccount(sspr, login('done-mixed'), ['authenticator_app']);
        const browser = new Browser(sspr.url);
        const choose = await startResetPage(browser, s.login);
        const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, 'Authenticator app') });
        const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(s.totp!) });
        assert.match(pw.text, /Choose a new password/);
        const { flow, secret } = resetBinding(browser, sspr.url);
        const csrf = hiddenValue(pw.text, 'csrf');
        const passwords = Array.from({ length: 10 }, (_, i) => `mixed-race-${i}-lantern-meadow-drifts`);
        const notices = () => smtp.messages.filter((m) => /password was reset/i.test(m.subject) && m.to.includes(`${s.login}@example.com`)).length;
        const noticesBefore = notices();
        const results = await Promise.all(
          passwords.map(async (p, i) =>
            i % 2 === 0
              ? { via: 'page', status: (await browser.post('/reset/flow', { csrf, password: p, confirm: p })).status }
              : { via: 'api', status: (await api(sspr, 'post', `/api/v1/resets/${flow}/password`, { secret, body: { password: p, confirm: p } })).status },
          ),
        );
        const won = results.flatMap((r, i) => (r.status === 200 ? [i] : []));
        assert.equal(won.length, 1, JSON.stringify(results));
        assert.ok(results.every((r, i) => won.includes(i) || r.status === 409), JSON.stringify(results));
        assert.equal(await countEvents(sspr, s.id, 'reset.completed'), 1);
        assert.ok(await signsIn(s.login, passwords[won[0]!]!));
        await sleep(300);
        assert.equal(notices() - noticesBefore, 1, 'the user is told once');
        assert.match((await browser.open('/reset/flow')).text, /Password changed/);
        assert.equal((await api(sspr, 'get', `/api/v1/resets/${flow}`, { secret })).body.state, 'done');
      });
    });
  });
}
