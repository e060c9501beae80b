/**
 * The audit trail as docs/audit-events.md promises it, from real flows over HTTP (openid-client
 * as the relying party, the SMTP and SMS gateway stand-ins) and from the admin CLI: every
 * outcome records its event with outcome, reason and details; every event of a request
 * carries its client IP and User-Agent; CLI actions carry `actor: cli`; no password, code,
 * pass or unknown identifier ever lands in the trail.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { FAST_ARGON2, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, type SmsGateway, TEST_TWILIO, twilioEnv } from '../support/sms-gateway.ts';
import { seedWithMethods } from '../support/seed.ts';
import { runCli, type CliRun } from '../support/cli.ts';
import type { StoredAuditEvent } from '../../src/domain/audit.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';
import type { Services } from '../../src/services.ts';
import { ACR_MFA } from '../../src/provider/acr.ts';

const PASSWORD = 'lilac-ferry-hums-at-noon';
const NEW_PASSWORD = 'granite-owl-reads-by-lamplight';
const WRONG = 'not-the-password-at-all';
const UA = 'AuditTest/1.0 (insight suite)';

/** Every stored event, oldest first (by seq: the CLI's clock is not the app's). */
async function allEvents(services: Services): Promise<StoredAuditEvent[]> {
  return (await services.audit.recent({ limit: 100_000 })).sort((a, b) => a.seq! - b.seq!);
}

/** Events recorded after `mark` (a seq), oldest first. */
async function eventsAfter(services: Services, mark: number): Promise<StoredAuditEvent[]> {
  return (await allEvents(services)).filter((e) => e.seq! > mark);
}

async function markOf(services: Services): Promise<number> {
  return Math.max(0, ...(await allEvents(services)).map((e) => e.seq!));
}

const summary = (events: StoredAuditEvent[]): string[] => events.map((e) => `${e.type}:${e.outcome}${e.reason ? `:${e.reason}` : ''}`);

/** The method ref (m0, m1, …) of the option labelled `label` on a reset's choose page. */
function resetRef(page: Page, label: string): string {
  const m = new RegExp(`id="ref-(m\\d+)" value="\\1"[^>]*>\\s*<label[^>]*>${label}`).exec(page.text);
  if (!m) throw new Error(`no method "${label}" offered:\n${page.text.slice(0, 2000)}`);
  return m[1]!;
}

/** The ref of the second-factor chooser's option labelled `label`. */
function factorRef(html: string, label: string): string {
  const m = new RegExp(`id="ref-([^"]+)" value="\\1"[^>]*>\\s*<label for="ref-\\1">${label}`).exec(html);
  if (!m) throw new Error(`no "${label}" option in page:\n${html.slice(0, 2000)}`);
  return m[1]!;
}

describe('audit trail: every flow outcome over HTTP (sqlite)', function () {
  this.timeout(120_000);
  let t: TestApp;
  let rp: RelyingParty;
  let smtp: TestSmtpServer;
  let gateway: SmsGateway;
  let now = Date.now();
  let start = 0;
  let ipCounter = 0;
  /** Everything secret the flows typed or received: none of it may be in the trail. */
  const secrets = new Set<string>([PASSWORD, NEW_PASSWORD, WRONG]);

  before(async () => {
    smtp = await startSmtpServer();
    gateway = await startSmsGateway({ accountSid: TEST_TWILIO.accountSid, authToken: TEST_TWILIO.authToken, webhookSecret: 'w'.repeat(32) });
    t = await startTestApp(
      {
        SSPR_SCOPE: 'all',
        SSPR_METHODS: 'email,mobile_phone,authenticator_app,recovery_codes',
        TWO_FACTOR: 'all',
        SMTP_URL: smtp.url,
        DEV_OUTBOX: 'false',
        ...twilioEnv(gateway, 'PL'),
        SIGNIN_LOCKOUT_THRESHOLD: '5',
        SIGNIN_LOCKOUT_SECONDS: '60',
        SIGNIN_MAX_CONSECUTIVE_FAILURES: '10',
        SIGNIN_IP_MAX_FAILURES: '5',
        TRUST_PROXY_HOPS: '1',
        RESET_MAX_FAILED_PROOFS: '3',
        RESET_STARTS_PER_IP: '5',
      },
      { clock: () => now },
    );
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    start = await markOf(t.services);
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
    await gateway?.stop();
  });

  /** A browser behind the trusted proxy, from its own client IP, with a known User-Agent. */
  function client(ip = `198.51.100.${(ipCounter += 1)}`): { browser: Browser; ip: string } {
    return { browser: new Browser(t.url, { 'User-Agent': UA, 'X-Forwarded-For': ip }), ip };
  }

  async function passwordPage(browser: Browser, login: string, password: string) {
    const flow = await rp.start();
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password }, t.redirectUri);
    return { flow, page };
  }

  async function phoneAccount(login: string, e164: string): Promise<string> {
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD });
    const at = t.services.clock();
    const methods: MethodRecord[] = [{ id: `p-${login}`, kind: 'mobile_phone', e164, country: 'PL', registeredAt: at, confirmedAt: at }];
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods, bootstrapProvenAt: at }));
    return account.id;
  }

  function assertFromRequest(events: StoredAuditEvent[], ip: string): void {
    for (const e of events) {
      assert.equal(e.ip, ip, `${e.type}: the client IP`);
      assert.equal(e.userAgent, UA, `${e.type}: the User-Agent`);
    }
  }

  it('password, then an SMS second factor: wrong code, right code, sign-in completed with client, acr and amr', async () => {
    const id = await phoneAccount('sara', '+48601234561');
    const mark = await markOf(t.services);
    const { browser, ip } = client();
    const { flow, page } = await passwordPage(browser, 'sara', PASSWORD);
    const sentBefore = gateway.received.length;
    const proof = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref: factorRef(page.text, 'Mobile phone') });
    const sms = await gateway.waitFor((m) => m.to === '+48601234561' && gateway.received.indexOf(m) >= sentBefore);
    const code = digitsIn(sms.text, 6);
    secrets.add(code);
    const wrong = await browser.submit(proof, formAction(proof.text, '/second-factor'), { action: 'finish', code: code === '000000' ? '111111' : '000000' });
    assert.equal(wrong.status, 400);
    const done = await browser.submit(wrong, formAction(wrong.text, '/second-factor'), { action: 'finish', code }, t.redirectUri);
    const tokens = await rp.finish(flow, done.location!);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'sms', 'mfa']);

    const events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events), [
      'signin.password:success',
      'code.sent:success',
      'second_factor.failed:failure:code_wrong',
      'second_factor.succeeded:success',
      'signin.completed:success',
    ]);
    assertFromRequest(events, ip);
    assert.ok(events.every((e) => e.accountId === id));
    const [password, sent, failed, succeeded, completed] = events;
    assert.deepEqual(password!.details, { client: 'test-rp' });
    assert.deepEqual(sent!.details, { purpose: 'second_factor', kind: 'mobile_phone', channel: 'sms', to: '+48 ••• ••• •61' });
    assert.deepEqual(failed!.details, { kind: 'mobile_phone' });
    assert.equal(succeeded!.details?.kind, 'mobile_phone');
    assert.deepEqual(completed!.details, { client: 'test-rp', acr: ACR_MFA, amr: 'pwd,sms,mfa', rememberedDevice: false });
  });

  it('wrong passwords: failures, a soft lockout, refused while locked, then a hard lockout; disabled and expired temporary passwords say why', async () => {
    const { account } = await t.services.accounts.create({ login: 'lena', password: PASSWORD });
    let mark = await markOf(t.services);
    const attempt = async (password: string) => {
      const { browser, ip } = client();
      const { page } = await passwordPage(browser, 'lena', password);
      return { page, ip };
    };
    const ips: string[] = [];
    for (let i = 0; i < 5; i += 1) ips.push((await attempt(WRONG)).ip);
    const locked = await attempt(PASSWORD);
    assert.equal(locked.page.status, 429);
    let events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events), [
      ...Array<string>(5).fill('signin.password:failure:wrong_credentials'),
      'lockout.started:blocked:soft',
      'signin.password:blocked:locked',
    ]);
    assert.ok(events.every((e) => e.accountId === account.id && e.userAgent === UA));
    assert.equal(events[5]!.ip, ips[4], 'the lockout comes from the failure that caused it');
    assert.deepEqual(events[5]!.details, { via: 'password', seconds: 60 });

    now += 61_000;
    mark = await markOf(t.services);
    for (let i = 0; i < 5; i += 1) await attempt(WRONG);
    const hard = await attempt(PASSWORD);
    assert.equal(hard.page.status, 429);
    events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events).slice(-2), ['lockout.started:blocked:hard', 'signin.password:blocked:locked_hard']);
    assert.deepEqual(events.at(-2)!.details, { via: 'password' });

    const { account: dina } = await t.services.accounts.create({ login: 'dina', password: PASSWORD });
    await t.services.accounts.setStatus(dina.id, 'disabled');
    const { account: tomo, temporaryPassword } = await t.services.accounts.create({ login: 'tomo' });
    secrets.add(temporaryPassword!);
    now += (t.services.config.TEMP_PASSWORD_TTL_HOURS + 1) * 3_600_000;
    mark = await markOf(t.services);
    const d = client();
    await passwordPage(d.browser, 'dina', PASSWORD);
    const tp = client();
    await passwordPage(tp.browser, 'tomo', temporaryPassword!);
    events = await eventsAfter(t.services, mark);
    assert.deepEqual(
      events.map((e) => [e.type, e.outcome, e.reason, e.accountId, e.ip]),
      [
        ['signin.password', 'failure', 'disabled', dina.id, d.ip],
        ['signin.password', 'failure', 'temporary_expired', tomo.id, tp.ip],
      ],
    );
  });

  it('unknown identifiers: no account, a keyed hash instead of the identifier, locked at the same count', async () => {
    const mark = await markOf(t.services);
    for (let i = 0; i < 5; i += 1) await passwordPage(client().browser, 'Ghost.Walker@Example.net', WRONG);
    const events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events), [...Array<string>(5).fill('signin.password:failure:wrong_credentials'), 'lockout.started:blocked:soft']);
    const hashes = new Set(events.map((e) => e.details?.identifierHash));
    assert.equal(hashes.size, 1, 'one unknown identifier, one hash');
    assert.match(String([...hashes][0]), /^[A-Za-z0-9_-]{16}$/);
    assert.ok(events.every((e) => e.accountId === undefined));
    assert.doesNotMatch(JSON.stringify(events), /ghost|walker/i);
  });

  it('the per-IP throttle: blocked with ip_throttled, from that IP', async () => {
    const ip = '203.0.113.50';
    const mark = await markOf(t.services);
    for (let i = 0; i < 5; i += 1) await passwordPage(client(`10.0.0.${i}, ${ip}`).browser, `nobody-${i}`, WRONG);
    const throttled = await passwordPage(client(ip).browser, 'sara', PASSWORD);
    assert.equal(throttled.page.status, 429);
    const events = await eventsAfter(t.services, mark);
    const last = events.at(-1)!;
    assert.deepEqual([last.type, last.outcome, last.reason, last.ip, last.accountId], ['signin.password', 'blocked', 'ip_throttled', ip, undefined]);
    assert.ok(events.every((e) => e.ip === ip), 'only the proxy-appended address counts');
  });

  it('registration at sign-in: the bootstrap code (wrong, right), a failed and a successful authenticator registration, then the sign-in', async () => {
    const { account } = await t.services.accounts.create({ login: 'remy', email: 'remy@example.com', password: PASSWORD });
    const mark = await markOf(t.services);
    const { browser, ip } = client();
    const mailsBefore = smtp.messages.length;
    const { flow, page } = await passwordPage(browser, 'remy', PASSWORD);
    const bootCode = codeIn(await smtp.waitFor((m) => m.to.includes('remy@example.com') && smtp.messages.indexOf(m) >= mailsBefore), 8);
    secrets.add(bootCode);
    const wrongBoot = await browser.submit(page, formAction(page.text, '/bootstrap'), { action: 'code', code: bootCode === '00000000' ? '11111111' : '00000000' });
    const chooser = await browser.submit(wrongBoot, formAction(wrongBoot.text, '/bootstrap'), { action: 'code', code: bootCode });
    const totpPage = await browser.submit(chooser, formAction(chooser.text, '/register'), { action: 'choose', kind: 'authenticator_app' });
    const key = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(totpPage.text)![1]!.replace(/ /g, '');
    secrets.add(key);
    const right = await generate({ secret: key, epoch: Math.floor(now / 1000) });
    secrets.add(right);
    const wrongTotp = await browser.submit(totpPage, formAction(totpPage.text, '/register'), { action: 'finish', code: right === '000000' ? '111111' : '000000' });
    assert.equal(wrongTotp.status, 400);
    const done = await browser.submit(wrongTotp, formAction(wrongTotp.text, '/register'), { action: 'finish', code: right }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri), done.text.replace(/[\s\S]*<main/, '').slice(0, 1500));
    await rp.finish(flow, done.location!);

    const events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events), [
      'signin.password:success',
      'code.sent:success',
      'code.failed:failure:code_wrong',
      'bootstrap.failed:failure:code_wrong',
      'bootstrap.used:success',
      'method.registration_failed:failure:code_wrong',
      'method.registered:success',
      'signin.completed:success',
    ]);
    assertFromRequest(events, ip);
    assert.ok(events.every((e) => e.accountId === account.id));
    assert.deepEqual(events[1]!.details, { purpose: 'bootstrap', channel: 'email', to: 'r•••@e•••.com' });
    assert.deepEqual(events[3]!.details, { via: 'email' });
    assert.deepEqual(events[4]!.details, { via: 'email' });
    assert.equal(events[5]!.details?.kind, 'authenticator_app');
    assert.equal(events[6]!.details?.kind, 'authenticator_app');
    assert.equal(events[6]!.details?.first, true);
    assert.equal(events[7]!.details?.amr, 'pwd,otp,mfa');
  });

  it('reset by SMS: started, code sent, a wrong and a right proof, completed', async () => {
    const id = await phoneAccount('rhea', '+48601234562');
    const mark = await markOf(t.services);
    const { browser, ip } = client();
    const form = await browser.open('/reset');
    const choose = await browser.submit(form, '/reset', { identifier: 'rhea' });
    const sentBefore = gateway.received.length;
    const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose, 'Mobile phone<') });
    const sms = await gateway.waitFor((m) => m.to === '+48601234562' && gateway.received.indexOf(m) >= sentBefore);
    const code = digitsIn(sms.text, 6);
    secrets.add(code);
    const wrong = await browser.submit(prove, '/reset/flow', { action: 'finish', code: code === '000000' ? '111111' : '000000' });
    assert.equal(wrong.status, 400);
    const pw = await browser.submit(wrong, '/reset/flow', { action: 'finish', code });
    const done = await browser.submit(pw, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    assert.match(done.text, /Password changed/);

    const events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events), [
      'reset.started:success',
      'code.sent:success',
      'reset.proof_failed:failure:code_wrong',
      'reset.proof_succeeded:success',
      'reset.completed:success',
    ]);
    assertFromRequest(events, ip);
    assert.ok(events.every((e) => e.accountId === id));
    assert.deepEqual(events[1]!.details, { purpose: 'reset', kind: 'mobile_phone', channel: 'sms', to: '+48 ••• ••• •62' });
    assert.deepEqual(events[2]!.details, { kind: 'mobile_phone' });
    assert.deepEqual(events[3]!.details, { kind: 'mobile_phone', channel: 'sms', proofsDone: 1, proofsRequired: 1 });
    assert.deepEqual(events[4]!.details, { proofs: 'mobile_phone', admin: false });
  });

  it('reset refusals: blocked after failed proofs, a blocked start, decoys for unknown identifiers, the per-IP start limit', async () => {
    const { id, totp } = await seedWithMethods(t.services, 'bert', PASSWORD);
    let mark = await markOf(t.services);
    const { browser, ip } = client();
    const form = await browser.open('/reset');
    const choose = await browser.submit(form, '/reset', { identifier: 'bert' });
    let page = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose, 'Authenticator app') });
    const right = await generate({ secret: totp, epoch: Math.floor(now / 1000) });
    for (let i = 0; i < 3; i += 1) page = await browser.submit(page, '/reset/flow', { action: 'finish', code: right === '000000' ? '111111' : '000000' });
    assert.equal(page.status, 429);
    const again = client();
    const blockedStart = await again.browser.submit(await again.browser.open('/reset'), '/reset', { identifier: 'bert' });
    assert.equal(blockedStart.status, 429);
    let events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events), [
      'reset.started:success',
      ...Array<string>(3).fill('reset.proof_failed:failure:code_wrong'),
      'reset.blocked:blocked:too_many_failed_proofs',
      'reset.started:blocked:reset_blocked',
    ]);
    assert.ok(events.every((e) => e.accountId === id));
    assertFromRequest(events.slice(0, 5), ip);
    assertFromRequest(events.slice(5), again.ip);
    assert.equal(events[4]!.details?.kind, 'authenticator_app');
    assert.equal(events[4]!.details?.failures, 3);

    // An unknown identifier: the same events, no account, never the identifier.
    // The decoy's methods derive from the identifier (keyed by this app's HMAC key): find an
    // unknown identifier whose decoy offers a method that sends a code, then start over with it.
    const decoyFor = async (identifier: string) => {
      const b = client();
      return { fake: b, page: await b.browser.submit(await b.browser.open('/reset'), '/reset', { identifier }) };
    };
    const sends = /<label for="ref-m\d+">(Email|Mobile phone)</;
    let unknown = 'nobody-here-0@example.org';
    for (let i = 1; i < 30 && !sends.test((await decoyFor(unknown)).page.text); i += 1) unknown = `nobody-here-${i}@example.org`;
    mark = await markOf(t.services);
    const { fake, page: decoy } = await decoyFor(unknown);
    assert.equal(decoy.status, 200);
    const offered = sends.exec(decoy.text)![1]!;
    await fake.browser.submit(decoy, '/reset/flow', { action: 'choose', ref: resetRef(decoy, `${offered}<`) });
    events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events), ['reset.started:success:no_usable_account', 'code.sent:success:decoy']);
    assert.ok(events.every((e) => e.accountId === undefined));
    const [kind, channel] = offered === 'Email' ? ['email', 'email'] : ['mobile_phone', 'sms'];
    assert.deepEqual(events[1]!.details, { purpose: 'reset', kind, channel, decoy: true });
    assert.doesNotMatch(JSON.stringify(events), /nobody-here/);
    assertFromRequest(events, fake.ip);

    // RESET_STARTS_PER_IP=5: the sixth start from one address is refused before any lookup.
    mark = await markOf(t.services);
    const one = '203.0.113.60';
    for (let i = 0; i < 6; i += 1) {
      const b = client(one).browser;
      await b.submit(await b.open('/reset'), '/reset', { identifier: `someone-${i}` });
    }
    events = await eventsAfter(t.services, mark);
    assert.deepEqual(summary(events).at(-1), 'reset.started:blocked:reset_too_many_starts');
    assert.equal(events.at(-1)!.accountId, undefined);
    assertFromRequest(events, one);
  });

  it('an undelivered reset code: code.delivery_failed for the account, method and channel, with the request it came from', async () => {
    const id = await phoneAccount('dora', '+48601234563');
    const mark = await markOf(t.services);
    const { browser, ip } = client();
    const choose = await browser.submit(await browser.open('/reset'), '/reset', { identifier: 'dora' });
    gateway.failWith(500, 1);
    const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose, 'Mobile phone<') });
    assert.equal(prove.status, 200, 'a delivery failure is never shown inside a reset');
    let failed: StoredAuditEvent | undefined;
    for (let i = 0; i < 50 && !failed; i += 1) {
      failed = (await eventsAfter(t.services, mark)).find((e) => e.type === 'code.delivery_failed');
      if (!failed) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(failed, 'the failure is audited');
    assert.deepEqual(
      [failed.outcome, failed.reason, failed.accountId, failed.ip, failed.userAgent, failed.details],
      ['failure', 'delivery_failed', id, ip, UA, { kind: 'mobile_phone', purpose: 'reset', channel: 'sms' }],
    );
  });

  it('every event of these requests has its IP and User-Agent; no password, code, key or unknown identifier is anywhere in the trail', async () => {
    const events = await eventsAfter(t.services, start);
    assert.ok(events.length > 40, `${events.length} events`);
    for (const e of events) {
      assert.ok(e.ip && e.userAgent === UA, `${e.type} has ip and userAgent: ${JSON.stringify(e)}`);
      assert.ok(['success', 'failure', 'blocked'].includes(e.outcome));
      if (e.outcome !== 'success') assert.ok(e.reason, `${e.type} ${e.outcome} has a reason`);
    }
    const json = JSON.stringify(events);
    for (const secret of secrets) assert.ok(!json.includes(secret), `the trail does not contain ${secret.slice(0, 3)}…`);
    assert.doesNotMatch(json, /ghost|nobody-here/i);
  });
});

describe('audit trail: admin CLI actions (sqlite)', function () {
  this.timeout(180_000);
  let t: TestApp;
  let smtp: TestSmtpServer;
  let env: Record<string, string>;
  const policy = { SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes' };

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ ...policy, SMTP_URL: smtp.url, DEV_OUTBOX: 'false' });
    env = { NODE_ENV: 'test', DATA_DIR: t.dataDir, LOG_LEVEL: 'silent', DEMO: 'false', ISSUER: t.url, SMTP_URL: smtp.url, DEV_OUTBOX: 'false', ...policy, ...FAST_ARGON2 };
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  const cli = async (...args: string[]): Promise<CliRun> => runCli(args, env);
  const ok = (run: CliRun): CliRun => {
    assert.equal(run.code, 0, `exit 0 expected for:\n${run.stdout}\n${run.stderr}`);
    return run;
  };

  it('records every change an admin makes from the CLI with actor cli, outcome and reason, and never a password or pass', async () => {
    const mark = await markOf(t.services);
    const created = ok(await cli('users', 'create', 'cleo', '--email', 'cleo@example.com'));
    const temporary = /^Temporary password: (\S+)$/m.exec(created.stdout)![1]!;
    assert.equal((await cli('users', 'create', 'cleo')).code, 1);
    const cleo = (await t.services.store.accounts.findByLogin('cleo'))!;
    await seedWithMethods(t.services, 'milo', PASSWORD);
    ok(await cli('users', 'groups', 'cleo', 'staff'));
    ok(await cli('users', 'admin', 'cleo', '--on'));
    ok(await cli('users', 'disable', 'cleo'));
    ok(await cli('users', 'enable', 'cleo'));
    ok(await cli('users', 'unlock', 'cleo'));
    ok(await cli('users', 'sign-out', 'cleo'));
    const reissued = /^Temporary password: (\S+)$/m.exec(ok(await cli('users', 'temp-password', 'cleo')).stdout)![1]!;
    const pass = /^Temporary access pass: (\S+)$/m.exec(ok(await cli('users', 'tap', 'cleo')).stdout)![1]!;
    ok(await cli('users', 'invite', 'cleo'));
    ok(await cli('users', 'require-registration', 'cleo'));
    assert.equal((await cli('users', 'reset', 'cleo')).code, 1, 'nothing to prove: refused');
    ok(await cli('users', 'reset', 'milo'));
    const csv = join(t.dataDir, 'people.csv');
    writeFileSync(csv, 'login,email\nivy,ivy@example.com\nmilo,\nian,\n');
    assert.equal((await cli('users', 'import', csv)).code, 1, 'one row failed');

    const events = await eventsAfter(t.services, mark);
    assert.deepEqual(
      events.map((e) => [e.type, e.outcome, e.reason ?? null]),
      [
        ['admin.user.created', 'success', null],
        ['admin.user.created', 'failure', 'conflict'],
        ['admin.user.updated', 'success', null],
        ['admin.user.updated', 'success', null],
        ['admin.user.disabled', 'success', null],
        ['admin.user.enabled', 'success', null],
        ['admin.user.unlocked', 'success', null],
        ['admin.user.signed_out', 'success', null],
        ['admin.password.set', 'success', null],
        ['admin.tap_issued', 'success', null],
        ['invite.sent', 'success', null],
        ['admin.registration_required', 'success', null],
        ['admin.reset_started', 'failure', 'no_methods'],
        ['reset.started', 'success', null],
        ['admin.reset_started', 'success', null],
        ['admin.users.imported', 'failure', 'rows_failed'],
      ],
    );
    assert.ok(events.every((e) => e.actor === 'cli'), 'actor cli on every event, the reset the CLI started included');
    assert.ok(events.slice(2, 13).every((e) => e.accountId === cleo.id));
    assert.deepEqual(events[2]!.details, { field: 'groups', before: '', after: 'staff' });
    assert.deepEqual(events[3]!.details, { field: 'admin', before: false, after: true });
    assert.deepEqual(events.at(-1)!.details, { created: 2, failed: 1, rows: 3 });
    const json = JSON.stringify(events);
    for (const secret of [temporary, reissued, pass]) assert.ok(!json.includes(secret), 'no password or pass in the trail');

    // A restore is recorded in the restored store: the trail goes on from the backup's.
    const backup = join(t.dataDir, 'backup.sqlite');
    ok(await cli('backup', backup));
    ok(await cli('users', 'disable', 'ivy'));
    ok(await cli('restore', backup, '--yes'));
    const after = await eventsAfter(t.services, events.at(-1)!.seq!);
    assert.deepEqual(after.map((e) => [e.type, e.actor]), [['admin.store.restored', 'cli']], 'the disable after the backup is gone with it');
    assert.deepEqual(after[0]!.details, { file: 'backup.sqlite', accounts: 4 });
  });
});
