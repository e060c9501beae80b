/**
 * Faults at the edges, as users see them:
 *
 * - Redis stopped mid-flow and started again (with its data): a clear 503 page while it is
 *   gone, /readyz 503, then the same flow goes on without a restart of rekey. Redis stopped
 *   while a reset's final step is still running (the commit done, the notification mail
 *   hanging): the commit stands whole, and the user's reload says the reset is done.
 * - The SMTP server refusing a message, refusing the recipient or never answering; the SMS
 *   gateway answering 500 or never answering: registration, the second factor and a reset each
 *   give a clear page within the send timeout (SMTP_TIMEOUT_MS, GATEWAY_TIMEOUT_MS), change
 *   nothing, and work again once the fault is gone. Inside a reset a failed send is never
 *   shown (it would tell that the account exists): it is audited, and "send again" works.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { totpNow } from '../support/totp.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { startRedisServer, type RedisProcess } from '../support/redis.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, TEST_TWILIO, twilioEnv, type SmsGateway } from '../support/sms-gateway.ts';
import { seedWithMethods } from '../support/seed.ts';
import { HoppingBrowser, LEAK, sharedRekeyEnv, startRekeyProcess, type HttpPage, type RekeyProcess } from '../support/rekey-process.ts';
import { freePort } from '../support/redis.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';
import { NEW_PASSWORD, OLD_PASSWORD, passwordState } from './crash-kit.ts';
import { LEASE_MS } from '../../src/domain/lease.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The reset choose page's `ref` for the method labelled `label`. */
function resetRefOf(html: string, label: string): string {
  const m = new RegExp(`id="ref-(m\\d+)" value="\\1"[^>]*>\\s*<label[^>]*>${label}`).exec(html);
  if (!m) throw new Error(`no method "${label}" offered:\n${html.slice(0, 3000)}`);
  return m[1]!;
}

/** A page a user can act on: no stack trace, driver name or file path. */
function assertNoLeak(page: Page, context: string): void {
  assert.doesNotMatch(page.text, LEAK, `${context}: no internals leak`);
  assert.doesNotMatch(page.text, /Internal Server Error|Something went wrong on our side/, `${context}: not a generic 500`);
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
  return Date.now() - started;
}

describe('Redis stopped and started again mid-flow', function () {
  this.timeout(90_000);
  let dir: string;
  let redis: RedisProcess;
  let smtp: TestSmtpServer;
  let t: TestApp;
  const PREFIX = 'rekey-faults:';
  const persistent = (port?: number) =>
    startRedisServer({ dir, ...(port ? { port } : {}), args: ['--appendonly', 'yes', '--appendfsync', 'always', '--appendfilename', 'faults.aof'] });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-redis-restart-'));
    redis = await persistent();
    smtp = await startSmtpServer();
    t = await startTestApp({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: PREFIX,
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,authenticator_app',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      SMTP_TIMEOUT_MS: '1500',
    });
  });
  after(async () => {
    await t?.close().catch(() => undefined);
    await smtp?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ready = async (): Promise<number> => (await fetch(`${t.url}/readyz`)).status;

  it('a reset between two steps: a clear 503 page while Redis is gone, then the same flow goes on', async () => {
    const { id, totp } = await seedWithMethods(t.services, 'rhea', OLD_PASSWORD);
    const browser = new Browser(t.url);
    const choose = await browser.submit(await browser.open('/reset'), '/reset', { identifier: 'rhea' });
    assert.equal(choose.status, 200, choose.text.slice(0, 500));
    const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRefOf(choose.text, 'Authenticator app') });
    assert.equal(prove.status, 200, prove.text.slice(0, 500));
    const before = await passwordState(t.services, id);

    await redis.stop();
    assert.equal(await ready(), 503, '/readyz tells the truth');
    const started = Date.now();
    const down = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
    assert.equal(down.status, 503, down.text.slice(0, 300));
    assert.match(down.text, /temporarily unavailable/);
    assertNoLeak(down, 'while Redis is down');
    assert.ok(Date.now() - started < 5_000, 'the error comes fast, not after retries');

    redis = await persistent(redis.port);
    await until(async () => (await ready()) === 200, 15_000, '/readyz after Redis is back');
    // The user sends the form again: the flow (persisted by Redis) goes on where it was.
    const newPassword = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
    assert.equal(newPassword.status, 200, newPassword.text.slice(0, 500));
    assert.match(newPassword.text, /name="password"/);
    const done = await browser.submit(newPassword, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    assert.equal(done.status, 200, done.text.slice(0, 500));
    assert.match(done.text, /password (was|has been) (changed|reset)/i);
    const after = await passwordState(t.services, id);
    assert.ok(after.notBefore > before.notBefore && (await t.services.hasher.verify(after.passwordHash!, NEW_PASSWORD)));
  });

  it('Redis gone while the final step still runs (commit done, notification mail hanging): the commit stands whole, the reload says done', async () => {
    const { id, totp } = await seedWithMethods(t.services, 'rory', OLD_PASSWORD);
    const browser = new Browser(t.url);
    const choose = await browser.submit(await browser.open('/reset'), '/reset', { identifier: 'rory' });
    const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRefOf(choose.text, 'Authenticator app') });
    const newPassword = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
    assert.match(newPassword.text, /name="password"/);
    const before = await passwordState(t.services, id);

    // The "password was reset" mail hangs until SMTP_TIMEOUT_MS: the step is past its commit.
    smtp.failNext('timeout');
    const watcher = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    watcher.on('error', () => {});
    const finalStep = browser.submit(newPassword, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    try {
      await until(async () => Number(await watcher.hget(`${PREFIX}{a:${id}}:account`, 'version')) > before.version, 10_000, 'the commit');
    } finally {
      watcher.disconnect();
    }
    await redis.stop();
    const answer = await finalStep;
    // Either the step finished before it needed Redis again, or it says the service is unavailable.
    assert.ok([200, 503].includes(answer.status), `${answer.status}: ${answer.text.slice(0, 300)}`);
    assertNoLeak(answer, 'the final step when Redis went away');

    redis = await persistent(redis.port);
    await until(async () => (await ready()) === 200, 15_000, '/readyz after Redis is back');
    const after = await passwordState(t.services, id);
    assert.ok(after.notBefore > before.notBefore, 'notBefore moved');
    assert.ok(await t.services.hasher.verify(after.passwordHash!, NEW_PASSWORD), 'with the password');
    // The reload: "already done" (a step lock the outage kept from being released ends by itself).
    const reloadStarted = Date.now();
    let reload = await browser.submit(newPassword, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    while (/already being processed/.test(reload.text) && Date.now() - reloadStarted < LEASE_MS + 2_000) {
      await sleep(250);
      reload = await browser.submit(newPassword, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    }
    assert.ok([200, 409].includes(reload.status), `${reload.status}: ${reload.text.slice(0, 300)}`);
    assert.match(reload.text, /already completed|password (was|has been) (changed|reset)/i);
    assertNoLeak(reload, 'the reload');
  });
});

type Fault = { name: string; on: 'smtp' | 'gateway'; inject(smtp: TestSmtpServer, gateway: SmsGateway, to: string): void; slow: boolean };

const FAULTS: Fault[] = [
  { name: 'SMTP server refuses the message (554)', on: 'smtp', inject: (smtp) => smtp.failNext('reject'), slow: false },
  { name: 'SMTP server refuses the recipient (550)', on: 'smtp', inject: (smtp, _g, to) => smtp.rejectRecipient(to), slow: false },
  { name: 'SMTP server never answers', on: 'smtp', inject: (smtp) => smtp.failNext('timeout'), slow: true },
  { name: 'SMS gateway answers 500', on: 'gateway', inject: (_s, gateway) => gateway.failWith(500), slow: false },
  { name: 'SMS gateway never answers', on: 'gateway', inject: (_s, gateway) => gateway.failWith('hang'), slow: true },
];

describe('delivery faults: SMTP and SMS gateway', function () {
  this.timeout(60_000);
  const SEND_TIMEOUT_MS = 1000;
  /** Time a page may take beyond the send timeout. */
  const SLACK_MS = 2500;
  let smtp: TestSmtpServer;
  let gateway: SmsGateway;
  let t: TestApp;
  let rp: RelyingParty;
  let n = 0;

  before(async () => {
    smtp = await startSmtpServer();
    gateway = await startSmsGateway({ accountSid: TEST_TWILIO.accountSid, authToken: TEST_TWILIO.authToken, webhookSecret: 'w'.repeat(32) });
    t = await startTestApp({
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,mobile_phone,authenticator_app',
      TWO_FACTOR: 'all',
      TWO_FACTOR_METHODS: 'email,mobile_phone,authenticator_app',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      SMTP_TIMEOUT_MS: String(SEND_TIMEOUT_MS),
      GATEWAY_TIMEOUT_MS: String(SEND_TIMEOUT_MS),
      ...twilioEnv(gateway),
    });
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  afterEach(() => {
    smtp.clear();
    gateway.clear();
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
    await gateway?.stop();
  });

  const phone = (): string => `+48605${String(100000 + n).slice(-6)}`;
  const spaced = (e164: string): string => `${e164.slice(0, 3)} ${e164.slice(3, 6)} ${e164.slice(6, 9)} ${e164.slice(9)}`;

  async function account(methods: (login: string, now: number) => MethodRecord[]): Promise<{ id: string; login: string }> {
    const login = `df${++n}`;
    const { account: a } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: OLD_PASSWORD });
    const now = t.services.clock();
    await t.services.accounts.update(a.id, (x) => ({ ...x, bootstrapProvenAt: now, methods: methods(login, now) }));
    return { id: a.id, login };
  }

  async function signIn(login: string): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password: OLD_PASSWORD }, t.redirectUri);
    assert.equal(page.status, 200, page.text.slice(0, 500));
    return { browser, page };
  }

  /** Runs `step` and checks it answered within the send timeout (plus slack). */
  async function timed<T>(fault: Fault, step: () => Promise<T>): Promise<T> {
    const started = Date.now();
    const result = await step();
    const ms = Date.now() - started;
    assert.ok(ms < SEND_TIMEOUT_MS + SLACK_MS, `${fault.name}: answered after ${ms} ms`);
    if (fault.slow) assert.ok(ms >= SEND_TIMEOUT_MS - 100, `${fault.name}: waited for the send timeout (${ms} ms)`);
    return result;
  }

  const auditTypes = async (id: string): Promise<string[]> => (await t.services.audit.recent({ limit: 1000 })).filter((e) => e.accountId === id).map((e) => `${e.type}:${e.outcome}`);

  for (const fault of FAULTS) {
    describe(fault.name, () => {
      it('registration at sign-in: "could not send" on the form, nothing registered, the next try works', async () => {
        const { id, login } = await account(() => []);
        const { browser, page } = await signIn(login);
        assert.match(page.text, /Set up account recovery/);
        const kind = fault.on === 'smtp' ? 'email' : 'mobile_phone';
        const form = await browser.submit(page, formAction(page.text, '/register'), { action: 'choose', kind });
        const to = fault.on === 'smtp' ? `${login}.reg@example.org` : phone();
        const fields: Record<string, string> = fault.on === 'smtp' ? { action: 'start', email: to } : { action: 'start', phone: spaced(to), channel: 'sms' };
        fault.inject(smtp, gateway, to);
        const failed = await timed(fault, () => browser.submit(form, formAction(form.text, '/register'), fields));
        assert.equal(failed.status, 400, failed.text.slice(0, 500));
        assert.match(failed.text, /We could not send the code/);
        assertNoLeak(failed, fault.name);
        assert.deepEqual((await t.services.accounts.get(id))!.methods, [], 'nothing registered');
        assert.ok((await auditTypes(id)).includes('code.delivery_failed:failure'));
        assert.equal((await fetch(`${t.url}/readyz`)).status, 200, '/readyz is about the store, which is fine');

        smtp.clear();
        gateway.clear();
        const sent = await browser.submit(failed, formAction(failed.text, '/register'), fields);
        assert.equal(sent.status, 200, sent.text.slice(0, 500));
        assert.match(sent.text, /We sent a code to/);
      });

      it('second factor at sign-in: "could not send" on the chooser, not signed in, no failure counted, the next try works', async () => {
        const to = fault.on === 'smtp' ? '' : phone();
        const { id, login } = await account((l, now) => [
          fault.on === 'smtp'
            ? { id: 'e1', kind: 'email', address: `${l}.second@example.org`, registeredAt: now, confirmedAt: now }
            : { id: 'p1', kind: 'mobile_phone', e164: to, country: 'PL', registeredAt: now, confirmedAt: now },
          { id: 'e0', kind: 'email', address: `${l}.other@example.org`, registeredAt: now, confirmedAt: now },
        ]);
        const { browser, page } = await signIn(login);
        assert.match(page.text, /<h1>Confirm it is you<\/h1>/);
        // The faulty method is the account's first: the chooser's first option.
        const ref = new RegExp(`id="ref-([^"]+)" value="\\1"[^>]*>\\s*<label for="ref-\\1">${fault.on === 'smtp' ? 'Email' : 'Mobile phone'}`).exec(page.text)?.[1];
        assert.ok(ref, `no option for the faulty method:\n${page.text.slice(0, 2000)}`);
        fault.inject(smtp, gateway, fault.on === 'smtp' ? `${login}.second@example.org` : to);
        const failed = await timed(fault, () => browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref }));
        assert.equal(failed.status, 400, failed.text.slice(0, 500));
        assert.match(failed.text, /We could not send the code/);
        assertNoLeak(failed, fault.name);
        assert.equal(failed.location, undefined, 'not signed in');
        assert.equal(await t.services.accounts.failures(id), 0, 'a failed send is not a failed sign-in');

        smtp.clear();
        gateway.clear();
        const sent = await browser.submit(failed, formAction(failed.text, '/second-factor'), { action: 'choose', ref });
        assert.equal(sent.status, 200, sent.text.slice(0, 500));
        assert.match(sent.text, /We sent a code to/);
      });

      it('reset: the page never shows the failed send, it is audited, nothing changes, "send again" delivers and the reset completes', async () => {
        const to = fault.on === 'smtp' ? '' : phone();
        const { id, login } = await account((l, now) => [
          fault.on === 'smtp'
            ? { id: 'e1', kind: 'email', address: `${l}.reset@example.org`, registeredAt: now, confirmedAt: now }
            : { id: 'p1', kind: 'mobile_phone', e164: to, country: 'PL', registeredAt: now, confirmedAt: now },
        ]);
        const before = await passwordState(t.services, id);
        const browser = new Browser(t.url);
        const choose = await browser.submit(await browser.open('/reset'), '/reset', { identifier: login });
        assert.equal(choose.status, 200, choose.text.slice(0, 500));
        const address = fault.on === 'smtp' ? `${login}.reset@example.org` : to;
        fault.inject(smtp, gateway, address);
        // Sending inside a reset happens after the answer: even a hanging server costs no wait.
        const started = Date.now();
        const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRefOf(choose.text, fault.on === 'smtp' ? 'Email' : 'Mobile phone') });
        assert.ok(Date.now() - started < SLACK_MS, `answered after ${Date.now() - started} ms`);
        assert.equal(prove.status, 200, prove.text.slice(0, 500));
        assert.match(prove.text, /We sent a code to/, 'the same page as a successful send');
        assertNoLeak(prove, fault.name);
        await until(async () => (await auditTypes(id)).includes('code.delivery_failed:failure'), SEND_TIMEOUT_MS + SLACK_MS, 'the failed send is audited');
        assert.deepEqual(await passwordState(t.services, id), before, 'nothing changed');

        smtp.clear();
        gateway.clear();
        const resent = await browser.submit(prove, '/reset/flow', { action: 'resend' });
        assert.equal(resent.status, 200, resent.text.slice(0, 500));
        const code = fault.on === 'smtp' ? codeIn(await smtp.waitFor((m) => m.to.includes(address)), 8) : digitsIn((await gateway.waitFor((m) => m.to === to)).text, 6);
        const newPassword = await browser.submit(resent, '/reset/flow', { action: 'finish', code });
        assert.match(newPassword.text, /name="password"/, newPassword.text.slice(0, 500));
        // The "your password was reset" mail fails too (to both addresses): the reset stands, the
        // page says done, and says the confirmation could not be sent.
        if (fault.on === 'smtp') for (const a of [`${login}@example.com`, `${login}.reset@example.org`]) fault.inject(smtp, gateway, a);
        const done = await (fault.on === 'smtp' ? timed(fault, () => browser.submit(newPassword, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD })) : browser.submit(newPassword, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD }));
        assert.equal(done.status, 200, done.text.slice(0, 500));
        assertNoLeak(done, 'the done page');
        assert.match(done.text, /Password changed/);
        if (fault.on === 'smtp') {
          assert.match(done.text, /We could not send the confirmation email just now; the new password is in force all the same\./);
          assert.doesNotMatch(done.text, /We sent a confirmation/);
        } else {
          assert.match(done.text, /We sent a confirmation to your email\./);
        }
        const after = await passwordState(t.services, id);
        assert.ok(after.notBefore > before.notBefore && (await t.services.hasher.verify(after.passwordHash!, NEW_PASSWORD)), 'the reset is whole');
      });
    });
  }
});

describe('a rekey process killed in the middle of a sign-in step', function () {
  this.timeout(60_000);
  let dir: string;
  let smtp: TestSmtpServer;
  let services: Services;
  let survivor: RekeyProcess;
  let victim: RekeyProcess | undefined;
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-killed-signin-'));
    smtp = await startSmtpServer();
    const port = await freePort();
    env = sharedRekeyEnv(dir, `http://127.0.0.1:${port}`, {
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,authenticator_app',
      TWO_FACTOR: 'all',
      TWO_FACTOR_METHODS: 'email,authenticator_app',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      DATA_DIR: join(dir, 'data'),
    });
    services = await createServices(parseConfig(env));
    survivor = await startRekeyProcess(env, { port });
  });
  after(async () => {
    await victim?.kill();
    await survivor?.kill();
    await services?.close();
    await smtp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('killed while the second-factor code is being mailed: the same step on another process works within seconds', async () => {
    const { account } = await services.accounts.create({ login: 'kim', email: 'kim@example.com', password: OLD_PASSWORD });
    const now = services.clock();
    await services.accounts.update(account.id, (a) => ({ ...a, bootstrapProvenAt: now, methods: [{ id: 'e1', kind: 'email', address: 'kim.second@example.org', registeredAt: now, confirmedAt: now }] }));
    victim = await startRekeyProcess(env);
    // What the load balancer sends to: the victim until it dies, then the survivor.
    let live = [victim.port];
    const browser = new HoppingBrowser(() => live);
    const issuer = env.ISSUER!;
    const redirectUri = `${issuer}/test-rp/callback`;
    const csrf = (page: HttpPage): string => /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const action = (page: HttpPage, suffix: string): string => new URL(/action="([^"]*)"/.exec(page.text.slice(page.text.indexOf(`${suffix}"`) - 200))![1]!, issuer).toString();
    const auth = new URL(`${issuer}/auth`);
    auth.search = new URLSearchParams({ client_id: 'test-rp', redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
    const signin = await browser.follow(await browser.request(auth.toString()), redirectUri);
    const passwordAction = new URL(/action="([^"]*\/password)"/.exec(signin.text)![1]!, issuer).toString();
    const chooser = await browser.follow(await browser.request(passwordAction, { method: 'POST', form: { csrf: csrf(signin), identifier: 'kim', password: OLD_PASSWORD } }), redirectUri);
    assert.match(chooser.text, /<h1>Confirm it is you<\/h1>/, chooser.text.slice(0, 500));
    const choose = action(chooser, '/second-factor');
    const ref = /name="ref" id="ref-([^"]+)"/.exec(chooser.text)![1]!;

    // The mail server takes the message and never answers: the step waits, holding its interaction.
    smtp.failNext('timeout');
    const inFlight = browser.request(choose, { method: 'POST', form: { csrf: csrf(chooser), action: 'choose', ref } });
    inFlight.catch(() => undefined);
    // (the step's store work before the send takes milliseconds)
    await sleep(700);
    assert.equal(smtp.messages.length, 0, 'the message is still hanging');
    await victim.kill();
    await assert.rejects(inFlight, 'the dead process never answers');
    live = [survivor.port];

    // The user sends the form again; the load balancer picks the live process.
    const started = Date.now();
    let page = await browser.request(choose, { method: 'POST', form: { csrf: csrf(chooser), action: 'choose', ref } });
    while (page.status === 409 && Date.now() - started < 15_000) {
      assert.match(page.text, /already being processed/);
      await sleep(500);
      page = await browser.request(choose, { method: 'POST', form: { csrf: csrf(chooser), action: 'choose', ref } });
    }
    const waited = Date.now() - started;
    page = await browser.follow(page, redirectUri);
    assert.equal(page.status, 200, page.text.slice(0, 500));
    assert.match(page.text, /We sent a code to/);
    assert.ok(waited < 8_000, `the dead process held the sign-in for ${waited} ms`);
    const code = codeIn(await smtp.waitFor((m) => m.to.includes('kim.second@example.org') && m.subject.includes('code')), 8);
    const done = await browser.follow(await browser.request(action(page, '/second-factor'), { method: 'POST', form: { csrf: csrf(page), action: 'finish', code } }), redirectUri);
    assert.ok(done.location?.startsWith(redirectUri), `signed in: ${done.status} ${done.text.slice(0, 300)}`);
  });
});
