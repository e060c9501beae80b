/**
 * Two-factor sign-in through the real pages, with openid-client as the relying party and the
 * Twilio-shaped gateway for phones: who is asked (TWO_FACTOR=all / admins), which methods
 * count, TOTP / SMS / voice / recovery codes as the second factor, replay, forced
 * registration, step-up by `acr_values`, remembered devices, and lockout.
 */
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { totpNow } from '../support/totp.ts';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty, type RpFlow } from '../support/rp.ts';
import { digitsIn, startSmsGateway, type SmsGateway, TEST_TWILIO, twilioEnv } from '../support/sms-gateway.ts';
import { seedWithMethods } from '../support/seed.ts';
import { rawStore } from '../support/raw-store.ts';
import type { MethodRecord, RecoveryCodesMethod } from '../../src/domain/methods/types.ts';
import { ACR_MFA, ACR_PWD } from '../../src/provider/acr.ts';

const PASSWORD = 'amber-willow-drifts-slowly';
const NEW_PASSWORD = 'copper-heron-wades-at-dusk';
const SID = TEST_TWILIO.accountSid;
const TOKEN = TEST_TWILIO.authToken;

/** Title of the second-factor chooser (and of the bootstrap page: the lead tells them apart). */
const CONFIRM = /<h1>Confirm it is you<\/h1>/;
const LEAD = /Your password was right\. Now prove it is you with one of your methods\./;
const REMEMBER = /Don&#39;t ask again on this device for 30 days/;

/** The ref of the chooser's option whose label starts with `label`. */
function refFor(html: string, label: string): string {
  const m = new RegExp(`id="ref-([^"]+)" value="\\1"[^>]*>\\s*<label for="ref-\\1">${label}`).exec(html);
  if (!m) throw new Error(`no "${label}" option in page:\n${html.slice(0, 2000)}`);
  return m[1]!;
}

/** Every option of the second-factor chooser, as `value` attributes. */
function refsIn(html: string): string[] {
  return [...html.matchAll(/name="ref" id="[^"]+" value="([^"]+)"/g)].map((m) => m[1]!);
}

/** A six-digit code that is not the current TOTP (nor its neighbours, as far as one can tell). */
async function wrongTotp(secret: string): Promise<string> {
  const right = await generate({ secret });
  return right === '000000' ? '111111' : '000000';
}

for (const backend of BACKENDS) {
  describe(`two-factor sign-in on ${backend}`, function () {
    this.timeout(60_000);

    /** Sign-in helpers bound to one app and its relying party. */
    function client(get: () => { t: TestApp; rp: RelyingParty }) {
      return {
        /** Starts an authorization request and answers the password page; stops at the RP callback. */
        async password(browser: Browser, login: string, params: Record<string, string> = {}, password = PASSWORD): Promise<{ flow: RpFlow; page: Page }> {
          const { t, rp } = get();
          const flow = await rp.start(params);
          const signin = await browser.open(flow.url.toString(), t.redirectUri);
          assert.equal(signin.status, 200, signin.text.slice(0, 300));
          assert.match(signin.text, /<h1>Sign in<\/h1>/);
          const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password }, t.redirectUri);
          return { flow, page };
        },
        /** Picks a method on the chooser. */
        choose(browser: Browser, page: Page, ref: string): Promise<Page> {
          return browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref });
        },
        /** Submits the proof form. */
        prove(browser: Browser, page: Page, fields: Record<string, string>): Promise<Page> {
          return browser.submit(page, formAction(page.text, '/second-factor'), { action: 'finish', ...fields }, get().t.redirectUri);
        },
        /** Redeems the code at the RP; returns the ID token claims. */
        async claims(flow: RpFlow, done: Page) {
          assert.ok(done.location?.startsWith(get().t.redirectUri), `sign-in finishes at the RP: ${done.status} ${done.text.slice(0, 400)}`);
          const tokens = await get().rp.finish(flow, done.location!);
          return tokens.claims()!;
        },
      };
    }

    describe('TWO_FACTOR=all', () => {
      let t: TestApp;
      let rp: RelyingParty;
      let gateway: SmsGateway;
      const c = client(() => ({ t, rp }));

      before(async () => {
        gateway = await startSmsGateway({ accountSid: SID, authToken: TOKEN, webhookSecret: 'w'.repeat(32) });
        t = await startTestApp(
          {
            TWO_FACTOR: 'all',
            SSPR_SCOPE: 'none',
            SSPR_POSTPONE_LIMIT: '3',
            REMEMBER_DEVICE_DAYS: '30',
            SIGNIN_LOCKOUT_THRESHOLD: '3',
            ...twilioEnv(gateway),
          },
          {},
          backend,
        );
        rp = await RelyingParty.discover(t.url, t.redirectUri);
      });
      after(async () => {
        await t?.close();
        await gateway?.stop();
      });

      const events = async (accountId: string, type: string) =>
        (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === accountId && e.type === type);

      it('password, then the authenticator app (email does not count); tokens say pwd+otp+mfa; a wrong code counts as a failure; a replayed code is refused', async () => {
        const { id, totp } = await seedWithMethods(t.services, 'alma', PASSWORD);
        const browser = new Browser(t.url);
        const { flow, page } = await c.password(browser, 'alma');
        assert.equal(page.status, 200, 'the password alone does not finish the sign-in');
        assert.match(page.text, CONFIRM);
        assert.match(page.text, LEAD);
        assert.deepEqual(refsIn(page.text), ['f0'], 'only the authenticator app is offered');
        assert.match(page.text, /<label for="ref-f0">Authenticator app/);
        assert.doesNotMatch(page.text, />Email</, 'email is not a second factor by default');
        assert.doesNotMatch(page.text, /a•••@e•••\.org/);

        // Skipping ahead is not possible: the RP gets nothing and the page stays.
        const again = await browser.open(page.url);
        assert.match(again.text, LEAD);

        const proof = await c.choose(browser, page, refFor(page.text, 'Authenticator app'));
        assert.equal(proof.status, 200);
        assert.match(proof.text, /autocomplete="one-time-code"/);
        assert.match(proof.text, REMEMBER, 'the device may be remembered');

        const failuresBefore = await t.services.accounts.failures(id);
        const wrong = await c.prove(browser, proof, { code: await wrongTotp(totp) });
        assert.equal(wrong.status, 400);
        assert.match(wrong.text, /That code is not right/);
        assert.match(wrong.text, /aria-invalid="true"/);
        assert.equal(await t.services.accounts.failures(id), failuresBefore + 1, 'a wrong second factor counts toward the lockout');
        const failed = await events(id, 'second_factor.failed');
        assert.equal(failed.length, 1);
        assert.equal(failed[0]!.outcome, 'failure');
        assert.equal(failed[0]!.reason, 'code_wrong');
        assert.equal(failed[0]!.details?.kind, 'authenticator_app');

        const code = await totpNow(totp);
        const done = await c.prove(browser, wrong, { code });
        const claims = await c.claims(flow, done);
        assert.equal(claims.sub, id);
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
        assert.equal(claims.acr, ACR_MFA);

        const stored = (await t.services.accounts.get(id))!;
        const app = (stored.methods as MethodRecord[]).find((m) => m.kind === 'authenticator_app')!;
        assert.ok(app.lastUsedAt !== undefined, 'the method records its use');
        assert.ok(app.kind === 'authenticator_app' && app.lastStep > 0, 'the used time step is stored');
        const ok = await events(id, 'second_factor.succeeded');
        assert.equal(ok.length, 1);
        assert.equal(ok[0]!.details?.kind, 'authenticator_app');
        assert.ok(!JSON.stringify(await t.services.audit.recent({ limit: 500 })).includes(code), 'no code in the audit trail');
        assert.equal(browser.agent.jar.getCookie('rekey_device', { domain: '127.0.0.1', path: '/', secure: false, script: false }), undefined, 'not remembered unless asked');

        // The same code, in a new sign-in in another browser: refused as used.
        const other = new Browser(t.url);
        const second = await c.password(other, 'alma');
        const replayProof = await c.choose(other, second.page, refFor(second.page.text, 'Authenticator app'));
        const beforeReplay = await t.services.accounts.failures(id);
        const replay = await c.prove(other, replayProof, { code });
        assert.equal(replay.status, 400);
        assert.match(replay.text, /already used/);
        assert.ok(!replay.location, 'the replay does not reach the RP');
        const replayFailure = (await events(id, 'second_factor.failed')).find((e) => e.reason === 'code_used');
        assert.ok(replayFailure, 'the replay is audited');
        assert.equal(await t.services.accounts.failures(id), beforeReplay + 1, 'the replay counts toward the lockout too');
      });

      it('an account without an eligible method is never let through: registration is forced (no "Not now"), then the sign-in finishes with mfa', async () => {
        const { account } = await t.services.accounts.create({ login: 'bruno', password: PASSWORD });
        // An email method is registered, but it does not count as a second factor.
        const now = t.services.clock();
        await t.services.accounts.update(account.id, (a) => ({
          ...a,
          methods: [{ id: 'e-bruno', kind: 'email', address: 'bruno.private@example.org', registeredAt: now, confirmedAt: now }],
        }));
        const browser = new Browser(t.url);
        const { flow, page } = await c.password(browser, 'bruno');
        assert.equal(page.status, 200);
        assert.ok(!page.location, 'not through');
        assert.match(page.text, /<h1>Set up account recovery<\/h1>/);
        assert.doesNotMatch(page.text, /Not now/, 'a required second factor cannot be postponed, whatever SSPR_POSTPONE_LIMIT says');
        assert.match(page.text, /id="kind-authenticator_app"/);

        const postpone = await browser.submit(page, formAction(page.text, '/register'), { action: 'postpone' }, t.redirectUri);
        assert.equal(postpone.status, 400, 'a forged "Not now" is refused');
        assert.ok(!postpone.location);
        assert.equal((await t.services.accounts.get(account.id))!.registrationPostponed ?? 0, 0);
        // Asking for the second-factor stage or reloading does not get through either.
        const skip = await browser.submit(postpone, page.url.replace(/\/?$/, '/second-factor'), { action: 'finish', code: '123456' }, t.redirectUri);
        assert.match(skip.text, /<h1>Set up account recovery<\/h1>/);

        const totpPage = await browser.submit(skip, formAction(skip.text, '/register'), { action: 'choose', kind: 'authenticator_app' });
        assert.match(totpPage.text, /<svg/);
        const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(totpPage.text)![1]!.replace(/ /g, '');
        const done = await browser.submit(totpPage, formAction(totpPage.text, '/register'), { action: 'finish', code: await totpNow(key) }, t.redirectUri);
        const claims = await c.claims(flow, done);
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
        assert.equal(claims.acr, ACR_MFA);
        const kinds = ((await t.services.accounts.get(account.id))!.methods as MethodRecord[]).map((m) => m.kind).sort();
        assert.deepEqual(kinds, ['authenticator_app', 'email']);
      });

      it('a first registration passes the bootstrap page first (temporary access pass), then registration, then mfa', async () => {
        const { account } = await t.services.accounts.create({ login: 'carla', password: PASSWORD });
        const browser = new Browser(t.url);
        const { flow, page } = await c.password(browser, 'carla');
        assert.equal(page.status, 200);
        assert.match(page.text, /There is no email address on your account/);
        assert.match(page.text, /\/bootstrap"/);
        const { pass } = await t.services.accessPasses.issue(account.id, 3600_000);
        const chooser = await browser.submit(page, formAction(page.text, '/bootstrap'), { action: 'tap', pass });
        assert.match(chooser.text, /<h1>Set up account recovery<\/h1>/);
        assert.doesNotMatch(chooser.text, /Not now/);
        const totpPage = await browser.submit(chooser, formAction(chooser.text, '/register'), { action: 'choose', kind: 'authenticator_app' });
        const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(totpPage.text)![1]!.replace(/ /g, '');
        const done = await browser.submit(totpPage, formAction(totpPage.text, '/register'), { action: 'finish', code: await totpNow(key) }, t.redirectUri);
        const claims = await c.claims(flow, done);
        const amr = claims.amr as string[];
        assert.ok(amr.includes('otp') && amr.includes('mfa'), `amr ${String(amr)}`);
        assert.equal(claims.acr, ACR_MFA);
      });

      it('SMS through the Twilio-shaped gateway gives sms+mfa; "call instead" gives a voice call and tel', async () => {
        const { account } = await t.services.accounts.create({ login: 'dario', email: 'dario@example.com', password: PASSWORD });
        const now = t.services.clock();
        await t.services.accounts.update(account.id, (a) => ({
          ...a,
          bootstrapProvenAt: now,
          methods: [{ id: 'p-dario', kind: 'mobile_phone', e164: '+48601234567', country: 'PL', registeredAt: now, confirmedAt: now }],
        }));

        const browser = new Browser(t.url);
        const { flow, page } = await c.password(browser, 'dario');
        assert.match(page.text, LEAD);
        const ref = refFor(page.text, 'Mobile phone');
        assert.deepEqual(refsIn(page.text), [ref, `${ref}.voice`]);
        assert.match(page.text, /\+48 ••• ••• •67/);
        assert.match(page.text, /Phone call/);

        const sentBefore = gateway.received.length;
        const proof = await c.choose(browser, page, ref);
        assert.equal(proof.status, 200, proof.text.slice(0, 400));
        assert.match(proof.text, /We sent a code to \+48 ••• ••• •67/);
        const sms = await gateway.waitFor((m) => m.to === '+48601234567' && gateway.received.indexOf(m) >= sentBefore);
        assert.equal(sms.kind, 'twilio-sms');
        assert.equal(sms.from, '+15005550006');
        const smsCode = digitsIn(sms.text, 6);
        const claims = await c.claims(flow, await c.prove(browser, proof, { code: smsCode }));
        assert.deepEqual(claims.amr, ['pwd', 'sms', 'mfa']);
        assert.equal(claims.acr, ACR_MFA);

        const other = new Browser(t.url);
        const second = await c.password(other, 'dario');
        const callsBefore = gateway.received.length;
        const voiceProof = await c.choose(other, second.page, `${refFor(second.page.text, 'Mobile phone')}.voice`);
        assert.equal(voiceProof.status, 200, voiceProof.text.slice(0, 400));
        const call = await gateway.waitFor((m) => m.to === '+48601234567' && gateway.received.indexOf(m) >= callsBefore);
        assert.equal(call.kind, 'twilio-voice');
        assert.equal(call.channel, 'voice');
        assert.match(digitsIn(call.text, 6), /^\d{6}$/);
        assert.match(voiceProof.text, /Send a new code/);
        // "Send a new code" calls again: the channel chosen is kept.
        const resendsBefore = gateway.received.length;
        const resent = await other.submit(voiceProof, formAction(voiceProof.text, '/second-factor'), { action: 'resend' });
        assert.equal(resent.status, 200);
        const again = await gateway.waitFor((m) => m.to === '+48601234567' && gateway.received.indexOf(m) >= resendsBefore);
        assert.equal(again.kind, 'twilio-voice', 'a resend after "call instead" is a call, not a text');
        assert.equal(gateway.received.length, resendsBefore + 1);
        const voiceCode = digitsIn(again.text, 6);
        // The earlier SMS code is spent.
        const stale = await c.prove(other, resent, { code: smsCode === voiceCode ? '000000' : smsCode });
        assert.equal(stale.status, 400);
        const voiceClaims = await c.claims(second.flow, await c.prove(other, stale, { code: voiceCode }));
        assert.deepEqual(voiceClaims.amr, ['pwd', 'tel', 'mfa']);
        assert.equal(voiceClaims.acr, ACR_MFA);
      });

      it('the chosen method holds while another sign-in reorders the list (last used first)', async () => {
        const { id, totp } = await seedWithMethods(t.services, 'elio', PASSWORD);
        const now = t.services.clock();
        await t.services.accounts.update(id, (a) => ({
          ...a,
          methods: [
            ...(a.methods as MethodRecord[]).map((m) => (m.kind === 'authenticator_app' ? { ...m, lastUsedAt: now } : m)),
            { id: 'p-elio', kind: 'mobile_phone', e164: '+48601234568', country: 'PL', registeredAt: now, confirmedAt: now, lastUsedAt: now - 60_000 },
          ],
        }));
        assert.ok(totp);
        const phoneSignIn = async (browser: Browser) => {
          const { flow, page } = await c.password(browser, 'elio');
          const ref = refFor(page.text, 'Mobile phone');
          const before = gateway.received.length;
          const proof = await c.choose(browser, page, ref);
          const sms = await gateway.waitFor((m) => m.to === '+48601234568' && gateway.received.indexOf(m) >= before);
          return { flow, page, ref, proof, code: digitsIn(sms.text, 6) };
        };
        const firstBrowser = new Browser(t.url);
        const first = await phoneSignIn(firstBrowser);
        assert.equal(first.ref, 'f1', 'the authenticator app, used last, comes first');
        // Meanwhile another sign-in uses the phone: it moves to the top of the list.
        const otherBrowser = new Browser(t.url);
        const second = await phoneSignIn(otherBrowser);
        assert.deepEqual((await c.claims(second.flow, await c.prove(otherBrowser, second.proof, { code: second.code }))).amr, ['pwd', 'sms', 'mfa']);
        const reordered = await c.password(new Browser(t.url), 'elio');
        assert.equal(refFor(reordered.page.text, 'Mobile phone'), 'f0');
        // The first sign-in's code is still checked against the phone it was sent to.
        const claims = await c.claims(first.flow, await c.prove(firstBrowser, first.proof, { code: first.code }));
        assert.deepEqual(claims.amr, ['pwd', 'sms', 'mfa']);
      });

      it('a recovery code works once as the second factor; the same code later is refused', async () => {
        const { id, totp } = await seedWithMethods(t.services, 'edda', PASSWORD);
        assert.ok(totp);
        const account = (await t.services.accounts.get(id))!;
        const method = t.services.methods.get('recovery_codes')!;
        const ctx = { accountId: id, login: account.login, admin: false, clock: t.services.clock, ip: '127.0.0.1', purpose: 'test' };
        const started = await method.startRegistration(ctx, {});
        assert.ok(started.ok);
        const codes = started.value.display.codes!;
        const finished = await method.finishRegistration(ctx, started.value.pending, { saved: 'yes' });
        assert.ok(finished.ok);
        await t.services.accounts.update(id, (a) => ({ ...a, methods: [...(a.methods as MethodRecord[]), finished.value] }));

        const browser = new Browser(t.url);
        const { flow, page } = await c.password(browser, 'edda');
        assert.match(page.text, /Recovery codes \(10 left\)/);
        const proof = await c.choose(browser, page, refFor(page.text, 'Recovery codes'));
        assert.match(proof.text, /name="code"/);
        const code = codes[3]!;
        const claims = await c.claims(flow, await c.prove(browser, proof, { code: code.toUpperCase() }));
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
        assert.equal(claims.acr, ACR_MFA);
        const stored = ((await t.services.accounts.get(id))!.methods as MethodRecord[]).find((m): m is RecoveryCodesMethod => m.kind === 'recovery_codes')!;
        assert.equal(stored.codes.filter((s) => s.usedAt !== undefined).length, 1, 'the code is spent');

        const other = new Browser(t.url);
        const second = await c.password(other, 'edda');
        assert.match(second.page.text, /Recovery codes \(9 left\)/);
        // The last used method comes first.
        assert.equal(refFor(second.page.text, 'Recovery codes'), 'f0');
        const again = await c.choose(other, second.page, refFor(second.page.text, 'Recovery codes'));
        const reused = await c.prove(other, again, { code });
        assert.equal(reused.status, 400);
        assert.match(reused.text, /already used/);
        assert.ok(!reused.location);
        const otherCode = await c.prove(other, reused, { code: codes[4]! });
        assert.deepEqual((await c.claims(second.flow, otherCode)).amr, ['pwd', 'otp', 'mfa']);
      });

      it('recovery codes stored before argon2 (keyed hashes in the store) still work, each once, as the second factor', async () => {
        const { id } = await seedWithMethods(t.services, 'olaf', PASSWORD);
        const codes = ['k3m9-p2x7-q8r4', 'v6w1-z5a0-b7c3', 'd9e2-f4g8-h1j6'];
        const at = t.services.clock();
        // The old format, as an earlier rekey wrote it: the keyed hash of each normalized code, no tag.
        const legacy: RecoveryCodesMethod = {
          id: 'rc-olaf',
          kind: 'recovery_codes',
          registeredAt: at,
          confirmedAt: at,
          codes: codes.map((c) => ({ hash: t.services.hmac.digest('recovery-code', c.replace(/-/g, '')) })),
        };
        await t.services.accounts.update(id, (a) => ({ ...a, methods: [...(a.methods as MethodRecord[]), legacy] }));
        const raw = await rawStore(t);
        for (const slot of legacy.codes) assert.ok(raw.includes(slot.hash), 'the store holds the old keyed hashes');

        const browser = new Browser(t.url);
        const { flow, page } = await c.password(browser, 'olaf');
        assert.match(page.text, /Recovery codes \(3 left\)/);
        const proof = await c.choose(browser, page, refFor(page.text, 'Recovery codes'));
        const wrong = await c.prove(browser, proof, { code: '0000-0000-0000' });
        assert.equal(wrong.status, 400);
        assert.match(wrong.text, /That code is not right/);
        const claims = await c.claims(flow, await c.prove(browser, wrong, { code: codes[1]!.toUpperCase() }));
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
        const stored = ((await t.services.accounts.get(id))!.methods as MethodRecord[]).find((m): m is RecoveryCodesMethod => m.kind === 'recovery_codes')!;
        assert.deepEqual(stored.codes.map((s) => s.usedAt !== undefined), [false, true, false], 'that one code is spent, in place');

        const other = new Browser(t.url);
        const second = await c.password(other, 'olaf');
        const again = await c.choose(other, second.page, refFor(second.page.text, 'Recovery codes'));
        const reused = await c.prove(other, again, { code: codes[1]! });
        assert.equal(reused.status, 400);
        assert.match(reused.text, /already used/);
        assert.deepEqual((await c.claims(second.flow, await c.prove(other, reused, { code: codes[2]! }))).amr, ['pwd', 'otp', 'mfa']);
      });

      describe('remembered devices (REMEMBER_DEVICE_DAYS=30)', () => {
        const deviceCookie = (b: Browser) => b.agent.jar.getCookie('rekey_device', { domain: '127.0.0.1', path: '/', secure: false, script: false });

        /** Signs in with the TOTP code and "Don't ask again" ticked; returns the browser and the Set-Cookie header. */
        async function rememberedSignIn(login: string, totp: string): Promise<{ browser: Browser; setCookie: string }> {
          const browser = new Browser(t.url);
          const { flow, page } = await c.password(browser, login);
          const proof = await c.choose(browser, page, refFor(page.text, 'Authenticator app'));
          assert.match(proof.text, REMEMBER);
          assert.match(proof.text, /<input type="checkbox" id="remember" name="remember" value="yes">/);
          const res = await browser.agent
            .post(new URL(formAction(proof.text, '/second-factor'), t.url).pathname)
            .type('form')
            .send({ csrf: /name="csrf" value="([^"]+)"/.exec(proof.text)![1]!, action: 'finish', code: await totpNow(totp), remember: 'yes' })
            .redirects(0);
          assert.equal(res.status, 303, res.text);
          const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((h) => h.startsWith('rekey_device='));
          assert.ok(setCookie, 'a rekey_device cookie is set');
          const done = await browser.follow({ status: res.status, url: new URL(proof.url, t.url).toString(), text: res.text, location: res.headers.location! }, t.redirectUri);
          const claims = await c.claims(flow, done);
          assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
          return { browser, setCookie };
        }

        it('"Don\'t ask again" skips the second factor in that browser only, never for a step-up, and ends with sign-out everywhere', async () => {
          const { id, totp } = await seedWithMethods(t.services, 'fabio', PASSWORD);
          const { browser, setCookie } = await rememberedSignIn('fabio', totp);
          assert.match(setCookie, /httponly/i);
          assert.match(setCookie, /samesite=lax/i);
          assert.match(setCookie, /path=\//i);
          const expires = Date.parse(/expires=([^;]+)/i.exec(setCookie)![1]!);
          assert.ok(Math.abs(expires - Date.now() - 30 * 86400_000) < 120_000, `the cookie lives 30 days: ${setCookie}`);
          assert.ok(deviceCookie(browser), 'the browser keeps the cookie');
          assert.ok(!setCookie.includes(totp), 'the cookie holds no secret of the method');

          // Stored server-side, listed, and the cookie's secret not in clear.
          const account = (await t.services.accounts.get(id))!;
          const devices = t.services.devices.list(account);
          assert.equal(devices.length, 1);
          assert.match(devices[0]!.label, /on /);
          assert.ok(devices[0]!.expiresAt - devices[0]!.createdAt === 30 * 86400_000);
          const secret = decodeURIComponent(deviceCookie(browser)!.value).split('.')[2]!;
          assert.ok(secret && !JSON.stringify(account).includes(secret), 'only a hash of the device secret is stored');

          // A fresh sign-in in this browser: password only.
          const fresh = await c.password(browser, 'fabio', { prompt: 'login' });
          const freshClaims = await c.claims(fresh.flow, fresh.page);
          assert.deepEqual(freshClaims.amr, ['pwd']);
          assert.equal(freshClaims.acr, ACR_PWD);

          // Another browser is asked.
          const other = new Browser(t.url);
          const elsewhere = await c.password(other, 'fabio');
          assert.match(elsewhere.page.text, LEAD);

          // A step-up from the remembered browser is still asked (no password, no "Don't ask again").
          const stepUpFlow = await rp.start({ acr_values: ACR_MFA });
          const stepUp = await browser.open(stepUpFlow.url.toString(), t.redirectUri);
          assert.equal(stepUp.status, 200, `asked: ${stepUp.location ?? ''}`);
          assert.match(stepUp.text, /Test App asks for a second proof that it is you/);
          assert.doesNotMatch(stepUp.text, /name="password"/);
          const stepUpProof = await c.choose(browser, stepUp, refFor(stepUp.text, 'Authenticator app'));
          assert.doesNotMatch(stepUpProof.text, REMEMBER, 'a step-up does not offer to remember the device');

          // A cookie of this account does not count for another one.
          const { id: otherId } = await seedWithMethods(t.services, 'fabia', PASSWORD);
          const cross = await c.password(browser, 'fabia', { prompt: 'login' });
          assert.match(cross.page.text, LEAD, "another account's device cookie is not this account's");
          assert.ok(otherId);

          // Sign out everywhere: the device no longer counts, and is no longer listed.
          await t.services.accounts.signOutEverywhere(id);
          const after = await c.password(browser, 'fabio', { prompt: 'login' });
          assert.equal(after.page.status, 200);
          assert.match(after.page.text, LEAD, 'asked again after sign-out everywhere');
          assert.deepEqual(t.services.devices.list((await t.services.accounts.get(id))!), []);
        });

        it('a password change (signing out everywhere) ends the remembered device', async () => {
          const { id, totp } = await seedWithMethods(t.services, 'gina', PASSWORD);
          const { browser } = await rememberedSignIn('gina', totp);
          const skipped = await c.password(browser, 'gina', { prompt: 'login' });
          assert.deepEqual((await c.claims(skipped.flow, skipped.page)).amr, ['pwd']);

          assert.equal(await t.services.accounts.changePassword(id, NEW_PASSWORD, { signOutEverywhere: true }), undefined);
          const after = await c.password(browser, 'gina', { prompt: 'login' }, NEW_PASSWORD);
          assert.equal(after.page.status, 200);
          assert.match(after.page.text, LEAD, 'asked again after a password change');
          assert.deepEqual(t.services.devices.list((await t.services.accounts.get(id))!), []);
        });

        it('a forgotten device no longer counts', async () => {
          const { id, totp } = await seedWithMethods(t.services, 'hugo', PASSWORD);
          const { browser } = await rememberedSignIn('hugo', totp);
          const [device] = t.services.devices.list((await t.services.accounts.get(id))!);
          assert.ok(device);
          assert.equal(await t.services.devices.forget(id, 'no-such-device'), 0);
          assert.equal(t.services.devices.list((await t.services.accounts.get(id))!).length, 1, 'forgetting another id keeps it');
          assert.equal(await t.services.devices.forget(id, device.id), 1);
          assert.deepEqual(t.services.devices.list((await t.services.accounts.get(id))!), []);
          const after = await c.password(browser, 'hugo', { prompt: 'login' });
          assert.match(after.page.text, LEAD, 'asked again after the device was forgotten');
        });
      });

      it('three wrong second factors lock the account: even the right code then gets 429', async () => {
        const { id, totp } = await seedWithMethods(t.services, 'ines', PASSWORD);
        const browser = new Browser(t.url);
        const { page } = await c.password(browser, 'ines');
        let current = await c.choose(browser, page, refFor(page.text, 'Authenticator app'));
        for (let i = 1; i <= 3; i += 1) {
          current = await c.prove(browser, current, { code: await wrongTotp(totp) });
          assert.equal(current.status, 400, `wrong code ${i}`);
          assert.equal(await t.services.accounts.failures(id), i);
        }
        assert.equal((await t.services.accounts.lockState(id)).locked, true);
        const locked = await c.prove(browser, current, { code: await totpNow(totp) });
        assert.equal(locked.status, 429);
        assert.match(locked.text, /Too many failed attempts/);
        assert.ok(!locked.location, 'the right code does not get through a lock');
        // The password page of a new sign-in says so too.
        const other = new Browser(t.url);
        const flow = await rp.start();
        const signin = await other.open(flow.url.toString(), t.redirectUri);
        const refused = await other.submit(signin, formAction(signin.text, '/password'), { identifier: 'ines', password: PASSWORD }, t.redirectUri);
        assert.equal(refused.status, 429);
        assert.match(refused.text, /Too many failed attempts/);
      });
      it('a right password does not wipe out wrong second factors: they add up across sign-ins to the lock', async () => {
        const { id, totp } = await seedWithMethods(t.services, 'jude', PASSWORD);
        for (let round = 1; round <= 3; round += 1) {
          const browser = new Browser(t.url);
          const { page } = await c.password(browser, 'jude');
          if (round === 3) {
            const current = await c.choose(browser, page, refFor(page.text, 'Authenticator app'));
            const wrong = await c.prove(browser, current, { code: await wrongTotp(totp) });
            assert.equal(wrong.status, 400);
            break;
          }
          const current = await c.choose(browser, page, refFor(page.text, 'Authenticator app'));
          await c.prove(browser, current, { code: await wrongTotp(totp) });
          assert.equal(await t.services.accounts.failures(id), round, `after round ${round}`);
        }
        assert.equal((await t.services.accounts.lockState(id)).locked, true, 'three wrong codes over three sign-ins lock the account');
      });
    });

    describe('TWO_FACTOR=admins', () => {
      let t: TestApp;
      let rp: RelyingParty;
      const c = client(() => ({ t, rp }));

      before(async () => {
        t = await startTestApp({ TWO_FACTOR: 'admins' }, {}, backend);
        rp = await RelyingParty.discover(t.url, t.redirectUri);
      });
      after(async () => {
        await t?.close();
      });

      it('a user with methods goes straight through with pwd; an admin is asked', async () => {
        await seedWithMethods(t.services, 'jana', PASSWORD);
        const user = await c.password(new Browser(t.url), 'jana');
        const claims = await c.claims(user.flow, user.page);
        assert.deepEqual(claims.amr, ['pwd']);
        assert.equal(claims.acr, ACR_PWD);

        const { totp } = await seedWithMethods(t.services, 'karl', PASSWORD, true);
        const browser = new Browser(t.url);
        const admin = await c.password(browser, 'karl');
        assert.equal(admin.page.status, 200);
        assert.match(admin.page.text, LEAD);
        const proof = await c.choose(browser, admin.page, refFor(admin.page.text, 'Authenticator app'));
        assert.doesNotMatch(proof.text, /Don&#39;t ask again/, 'REMEMBER_DEVICE_DAYS=0 offers nothing');
        const adminClaims = await c.claims(admin.flow, await c.prove(browser, proof, { code: await totpNow(totp) }));
        assert.deepEqual(adminClaims.amr, ['pwd', 'otp', 'mfa']);
        assert.equal(adminClaims.acr, ACR_MFA);
      });
    });

    describe('step-up (TWO_FACTOR=off)', () => {
      let t: TestApp;
      let rp: RelyingParty;
      const c = client(() => ({ t, rp }));

      before(async () => {
        t = await startTestApp({ TWO_FACTOR: 'off' }, {}, backend);
        rp = await RelyingParty.discover(t.url, t.redirectUri);
      });
      after(async () => {
        await t?.close();
      });

      it('discovery lists both acr values and the amr claim', async () => {
        const res = await fetch(`${t.url}/.well-known/openid-configuration`);
        assert.equal(res.status, 200);
        const meta = (await res.json()) as { acr_values_supported?: string[]; claims_supported?: string[] };
        assert.deepEqual([...(meta.acr_values_supported ?? [])].sort(), [ACR_MFA, ACR_PWD].sort());
        assert.ok(meta.claims_supported?.includes('amr'));
        assert.ok(meta.claims_supported?.includes('acr'));
      });

      it('acr_values=mfa on a password session asks only for the second factor, then issues acr mfa', async () => {
        const { id, totp } = await seedWithMethods(t.services, 'lena', PASSWORD);
        const browser = new Browser(t.url);
        const first = await c.password(browser, 'lena');
        const pwd = await c.claims(first.flow, first.page);
        assert.deepEqual(pwd.amr, ['pwd']);
        assert.equal(pwd.acr, ACR_PWD);

        // Without acr_values the session signs in silently.
        const silent = await rp.start();
        const silentDone = await browser.open(silent.url.toString(), t.redirectUri);
        assert.equal((await c.claims(silent, silentDone)).acr, ACR_PWD);

        const flow = await rp.start({ acr_values: ACR_MFA });
        const page = await browser.open(flow.url.toString(), t.redirectUri);
        assert.equal(page.status, 200, `asked: ${page.location ?? ''}`);
        assert.match(page.text, CONFIRM);
        assert.match(page.text, /Test App asks for a second proof that it is you/);
        assert.doesNotMatch(page.text, /name="password"/, 'no password page');
        const proof = await c.choose(browser, page, refFor(page.text, 'Authenticator app'));
        const claims = await c.claims(flow, await c.prove(browser, proof, { code: await totpNow(totp) }));
        assert.equal(claims.sub, id);
        assert.equal(claims.acr, ACR_MFA);
        const amr = claims.amr as string[];
        assert.ok(amr.includes('otp') && amr.includes('mfa') && amr.includes('pwd'), `amr ${String(amr)}`);
        const stepUps = (await t.services.audit.recent({ limit: 200 })).filter((e) => e.accountId === id && e.type === 'second_factor.succeeded');
        assert.equal(stepUps.at(-1)?.details?.stepUp, true);

        // The session now is multi-factor: asking again needs nothing more.
        const again = await rp.start({ acr_values: ACR_MFA });
        const againDone = await browser.open(again.url.toString(), t.redirectUri);
        const againClaims = await c.claims(again, againDone);
        assert.equal(againClaims.acr, ACR_MFA);
      });

      it('acr_values=mfa with prompt=login or max_age=0 asks for the password again, then the second factor', async () => {
        const { id, totp } = await seedWithMethods(t.services, 'luca', PASSWORD);
        const browser = new Browser(t.url);
        const first = await c.password(browser, 'luca');
        assert.equal((await c.claims(first.flow, first.page)).acr, ACR_PWD);

        const asks: Record<string, string>[] = [{ prompt: 'login' }, { max_age: '0' }];
        for (const params of asks) {
          const flow = await rp.start({ acr_values: ACR_MFA, ...params });
          const page = await browser.open(flow.url.toString(), t.redirectUri);
          assert.equal(page.status, 200);
          assert.match(page.text, /<h1>Sign in<\/h1>/, `${JSON.stringify(params)}: re-authentication means the password, not only the second factor`);
          assert.match(page.text, /name="password"/);
          if (params.prompt) {
            const wrong = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'luca', password: 'not-the-password-at-all' }, t.redirectUri);
            assert.equal(wrong.status, 401, 'a wrong password does not get to the second factor');
            continue;
          }
          const second = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'luca', password: PASSWORD }, t.redirectUri);
          assert.match(second.text, /Test App asks for a second proof that it is you/);
          const proof = await c.choose(browser, second, refFor(second.text, 'Authenticator app'));
          const claims = await c.claims(flow, await c.prove(browser, proof, { code: await totpNow(totp) }));
          assert.equal(claims.sub, id);
          assert.equal(claims.acr, ACR_MFA);
          assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
        }
      });

      it('acr_values=mfa with no eligible method: the RP gets unmet_authentication_requirements, no loop', async () => {
        const { account } = await t.services.accounts.create({ login: 'mads', email: 'mads@example.com', password: PASSWORD });
        const now = t.services.clock();
        await t.services.accounts.update(account.id, (a) => ({
          ...a,
          bootstrapProvenAt: now,
          methods: [{ id: 'e-mads', kind: 'email', address: 'mads.private@example.org', registeredAt: now, confirmedAt: now }],
        }));
        const browser = new Browser(t.url);
        const first = await c.password(browser, 'mads');
        assert.equal((await c.claims(first.flow, first.page)).acr, ACR_PWD);

        const flow = await rp.start({ acr_values: ACR_MFA });
        const done = await browser.open(flow.url.toString(), t.redirectUri);
        assert.ok(done.location?.startsWith(t.redirectUri), `back at the RP: ${done.status} ${done.text.slice(0, 300)}`);
        const params = new URL(done.location!).searchParams;
        assert.equal(params.get('error'), 'unmet_authentication_requirements');
        assert.equal(params.get('state'), flow.state);
        await assert.rejects(rp.finish(flow, done.location!), (e: { error?: string }) => e.error === 'unmet_authentication_requirements');

        // A fresh sign-in asking for mfa ends the same way after the password.
        const fresh = await c.password(new Browser(t.url), 'mads', { acr_values: ACR_MFA });
        assert.ok(fresh.page.location?.startsWith(t.redirectUri));
        assert.equal(new URL(fresh.page.location!).searchParams.get('error'), 'unmet_authentication_requirements');

        // The existing session still works without acr_values.
        const plain = await rp.start();
        assert.equal((await c.claims(plain, await browser.open(plain.url.toString(), t.redirectUri))).acr, ACR_PWD);

        // acr_values lists acceptable values by preference: "mfa pwd" accepts pwd when mfa cannot be had.
        const either = await rp.start({ acr_values: `${ACR_MFA} ${ACR_PWD}` });
        assert.equal((await c.claims(either, await browser.open(either.url.toString(), t.redirectUri))).acr, ACR_PWD);
      });
    });
  });
}
