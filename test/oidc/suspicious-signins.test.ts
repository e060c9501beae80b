/**
 * ASVS 6.3.4: users are told of suspicious sign-in attempts, by email to every registered
 * address, through a real SMTP exchange: failed passwords that lock the account, the right
 * password followed by failed second factors that lock it, and a sign-in that succeeds after
 * several failures. Each once (per lockout, or per hour), never for an unknown identifier,
 * never when switched off, and never holding up or breaking the sign-in's answer.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../support/smtp-server.ts';
import { seedWithMethods } from '../support/seed.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';

const PASSWORD = 'quiet-lantern-crosses-the-bay';
const WRONG = 'wrong-guess-harbour-lights';
/** Lockout after 3 failures: a success after 2 (half of 3, rounded up) is told. */
const ENV = { SIGNIN_LOCKOUT_THRESHOLD: '3', SIGNIN_LOCKOUT_SECONDS: '60', SIGNIN_MAX_CONSECUTIVE_FAILURES: '10', TWO_FACTOR: 'admins', TRUST_PROXY_HOPS: '1', DEV_OUTBOX: 'false' };

/** An account with its primary address and a second address registered as an email method. */
async function seedTwoAddresses(t: TestApp, login: string): Promise<{ id: string; addresses: string[] }> {
  const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD });
  const now = t.services.clock();
  const method: MethodRecord = { id: `e-${login}`, kind: 'email', address: `${login}.private@example.org`, registeredAt: now, confirmedAt: now };
  await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [method] }));
  return { id: account.id, addresses: [`${login}@example.com`, `${login}.private@example.org`] };
}

function signinClient(get: () => { t: TestApp; rp: RelyingParty }) {
  let ipCounter = 0;
  return {
    /** Opens the sign-in of a fresh authorization request and submits the password, from its own proxy-reported IP. */
    async password(login: string, password: string): Promise<{ browser: Browser; page: Page }> {
      const { t, rp } = get();
      const browser = new Browser(t.url, { 'X-Forwarded-For': `198.51.100.${(ipCounter = (ipCounter % 250) + 1)}` });
      const flow = await rp.start();
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password }, t.redirectUri);
      return { browser, page };
    },
  };
}

const to = (smtp: TestSmtpServer, address: string): ReceivedMail[] => smtp.messages.filter((m) => m.to.includes(address));

for (const backend of BACKENDS) describe(`suspicious sign-in notices (ASVS 6.3.4) on ${backend}`, function () {
  this.timeout(60_000);
  let t: TestApp;
  let rp: RelyingParty;
  let smtp: TestSmtpServer;
  let now = Date.now();
  const c = signinClient(() => ({ t, rp }));

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ ...ENV, SMTP_URL: smtp.url }, { clock: () => now }, backend);
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });
  beforeEach(() => smtp.clear());

  const notices = async (accountId: string) =>
    (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === accountId && e.type === 'notice.sent');

  it('failed passwords that lock the account: one notice to every registered address, nothing more while the lock lasts, one again for the next lock', async () => {
    const { id, addresses } = await seedTwoAddresses(t, 'nora');
    for (let i = 0; i < 3; i += 1) assert.equal((await c.password('nora', WRONG)).page.status, 401);
    await t.services.signinNotices.settled();
    for (const address of addresses) {
      const mails = to(smtp, address);
      assert.equal(mails.length, 1, `one notice to ${address}`);
      const mail = mails[0]!;
      assert.equal(mail.subject, 'Failed sign-ins to your rekey account');
      assert.match(mail.text, /someone tried to sign in to your rekey account "nora" and failed 3 times in a row/);
      assert.match(mail.text, /Time: .+\n {2}App: Test App/);
      assert.match(mail.text, /Sign-in to this account is paused until /);
      assert.match(mail.text, /there is nothing to do: your password held/);
      assert.match(mail.text, new RegExp(`"Forgot password\\?" on the sign-in page \\(${t.url}/reset\\)`));
      assert.ok(!mail.text.includes(WRONG) && !mail.raw.includes(WRONG), 'never the password tried');
    }
    assert.equal(smtp.messages.length, 2);

    // Inside the lock: more wrong passwords, and the right one, are refused and tell nobody again.
    for (const password of [WRONG, WRONG, PASSWORD]) assert.equal((await c.password('nora', password)).page.status, 429);
    await t.services.signinNotices.settled();
    assert.equal(smtp.messages.length, 2, 'nothing more while the lock lasts');

    // A new lock (after the first ended) is a new event: told once more.
    now += 61_000;
    for (let i = 0; i < 3; i += 1) assert.equal((await c.password('nora', WRONG)).page.status, 401);
    await t.services.signinNotices.settled();
    for (const address of addresses) assert.equal(to(smtp, address).length, 2, `a second lock told to ${address}`);
    assert.match(to(smtp, addresses[0]!)[1]!.text, /failed 6 times in a row/);
    const sent = await notices(id);
    assert.equal(sent.length, 2);
    assert.ok(sent.every((e) => e.outcome === 'success' && e.details?.notice === 'signin_locked' && e.details?.recipients === 2));
  });

  it('every lock up to the hard one is told once; the hard one says it lasts until an admin unlocks it or a reset', async () => {
    const { id, addresses } = await seedTwoAddresses(t, 'hugo');
    let failures = 0;
    while (failures < 10) {
      const res = await c.password('hugo', WRONG);
      if (res.page.status === 429) now += 3_600_000;
      else failures += 1;
    }
    assert.deepEqual(await t.services.accounts.lockState(id), { locked: true, hard: true });
    assert.equal((await c.password('hugo', WRONG)).page.status, 429);
    await t.services.signinNotices.settled();
    const mails = to(smtp, addresses[0]!);
    assert.deepEqual(mails.map((m) => /failed (\d+) times/.exec(m.text)?.[1]), ['3', '6', '9', '10'], 'one notice per lock');
    assert.match(mails[3]!.text, /Sign-in to this account stays paused until an administrator unlocks it or you reset your password with "Forgot password\?"\./);
    assert.equal(to(smtp, addresses[1]!).length, 4);
  });

  it('an unknown login locks at the same count with the same pages, and nobody gets anything', async () => {
    const pages: number[] = [];
    for (let i = 0; i < 4; i += 1) pages.push((await c.password('no-such-person', WRONG)).page.status);
    assert.deepEqual(pages, [401, 401, 401, 429]);
    await t.services.signinNotices.settled();
    assert.equal(smtp.messages.length, 0);
  });

  it('the right password, then failed second factors that lock the sign-in: one notice with links to change or reset the password', async () => {
    const { id } = await seedWithMethods(t.services, 'otto', PASSWORD, true);
    const addresses = ['otto@example.com', 'otto.private@example.org'];
    const { browser, page } = await c.password('otto', PASSWORD);
    assert.equal(page.status, 200, 'the password alone does not finish the sign-in');
    let current = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref: 'f0' });
    for (let i = 0; i < 3; i += 1) {
      current = await browser.submit(current, formAction(current.text, '/second-factor'), { action: 'finish', code: '000000' }, t.redirectUri);
      assert.equal(current.status, 400);
    }
    assert.equal((await t.services.accounts.lockState(id)).locked, true);
    await t.services.signinNotices.settled();
    for (const address of addresses) {
      const mails = to(smtp, address);
      assert.equal(mails.length, 1, `one notice to ${address}`);
      const mail = mails[0]!;
      assert.equal(mail.subject, 'Your rekey password was used, but the second step failed');
      assert.match(mail.text, /someone entered the right password for your rekey account "otto", but then failed the second step/);
      assert.match(mail.text, /after 3 failed attempts in a row/);
      assert.match(mail.text, /App: Test App/);
      assert.ok(mail.text.includes(`someone knows your password: change it now at ${t.url}/account/password`));
      assert.ok(mail.text.includes(`use "Forgot password?" instead: ${t.url}/reset`));
    }
    assert.equal(smtp.messages.length, 2);

    // The locked sign-in refuses even the right code, and tells nobody again.
    const refused = await browser.submit(current, formAction(current.text, '/second-factor'), { action: 'finish', code: '000000' }, t.redirectUri);
    assert.equal(refused.status, 429);
    assert.equal((await c.password('otto', WRONG)).page.status, 429);
    await t.services.signinNotices.settled();
    assert.equal(smtp.messages.length, 2, 'nothing more while the lock lasts');
    assert.deepEqual((await notices(id)).map((e) => e.details?.notice), ['second_factor_locked']);
  });

  it('a sign-in that succeeds after several failures: one notice with the count, time and app; not again within the hour; not below the threshold', async () => {
    const { id, addresses } = await seedTwoAddresses(t, 'pia');
    for (let i = 0; i < 2; i += 1) assert.equal((await c.password('pia', WRONG)).page.status, 401);
    const ok = await c.password('pia', PASSWORD);
    assert.ok(ok.page.location?.startsWith(t.redirectUri), 'the sign-in goes through');
    await t.services.signinNotices.settled();
    for (const address of addresses) {
      const mails = to(smtp, address);
      assert.equal(mails.length, 1, `one notice to ${address}`);
      assert.equal(mails[0]!.subject, 'A sign-in to your rekey account after failed attempts');
      assert.match(mails[0]!.text, /someone signed in to your rekey account "pia" after 2 failed attempts in a row\.\n\n {2}Time: .+\n {2}App: Test App/);
      assert.ok(mails[0]!.text.includes(`change it now at ${t.url}/account/password`));
    }
    assert.equal(await t.services.accounts.failures(id), 0, 'the success cleared the failures');

    // Within the hour, the same again is not told twice.
    for (let i = 0; i < 2; i += 1) await c.password('pia', WRONG);
    assert.ok((await c.password('pia', PASSWORD)).page.location?.startsWith(t.redirectUri));
    // One failure is below the threshold (half of 3, rounded up): nothing to tell.
    now += 2 * 3_600_000;
    await c.password('pia', WRONG);
    assert.ok((await c.password('pia', PASSWORD)).page.location?.startsWith(t.redirectUri));
    await t.services.signinNotices.settled();
    assert.equal(smtp.messages.length, 2);
    assert.deepEqual((await notices(id)).map((e) => `${e.outcome}:${e.details?.notice}`).sort(), ['blocked:signin_after_failures', 'success:signin_after_failures']);
  });
});

describe('suspicious sign-in notices switched off, and with the SMTP server hanging', function () {
  this.timeout(60_000);
  let now = Date.now();

  it('NOTIFY_SUSPICIOUS_SIGNINS=false: neither a lock nor a success after failures sends anything', async () => {
    const smtp = await startSmtpServer();
    const t = await startTestApp({ ...ENV, SMTP_URL: smtp.url, NOTIFY_SUSPICIOUS_SIGNINS: 'false' }, { clock: () => now });
    try {
      const rp = await RelyingParty.discover(t.url, t.redirectUri);
      const c = signinClient(() => ({ t, rp }));
      const { id: quiet } = await seedTwoAddresses(t, 'quinn');
      for (let i = 0; i < 3; i += 1) await c.password('quinn', WRONG);
      assert.equal((await t.services.accounts.lockState(quiet)).locked, true);
      await seedTwoAddresses(t, 'rita');
      for (let i = 0; i < 2; i += 1) await c.password('rita', WRONG);
      assert.ok((await c.password('rita', PASSWORD)).page.location?.startsWith(t.redirectUri));
      await t.services.signinNotices.settled();
      assert.equal(smtp.messages.length, 0);
      assert.equal((await t.services.audit.recent({ limit: 500 })).filter((e) => e.type === 'notice.sent').length, 0);
    } finally {
      await t.close();
      await smtp.stop();
    }
  });

  it('an SMTP server that never answers neither delays nor breaks the answer: the lock holds, the failed notice is audited', async () => {
    // Accepts connections and never says a word: nodemailer waits for the greeting until SMTP_TIMEOUT_MS.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const t = await startTestApp({ ...ENV, SMTP_URL: `smtp://127.0.0.1:${port}`, SMTP_TIMEOUT_MS: '3000' }, { clock: () => now });
    try {
      const rp = await RelyingParty.discover(t.url, t.redirectUri);
      const c = signinClient(() => ({ t, rp }));
      const { id } = await seedTwoAddresses(t, 'sami');
      for (let i = 0; i < 2; i += 1) assert.equal((await c.password('sami', WRONG)).page.status, 401);
      const started = Date.now();
      const locking = await c.password('sami', WRONG);
      const took = Date.now() - started;
      assert.equal(locking.page.status, 401, 'the failure that locks answers as every failure does');
      assert.match(locking.page.text, /The username or password is incorrect/);
      assert.ok(took < 2000, `the answer did not wait for the mail server (${took} ms)`);
      assert.equal((await c.password('sami', PASSWORD)).page.status, 429, 'the lock holds');
      await t.services.signinNotices.settled();
      const sent = (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === id && e.type === 'notice.sent');
      assert.deepEqual(
        sent.map((e) => [e.outcome, e.reason, e.details?.notice, e.details?.failed]),
        [['failure', 'delivery_failed', 'signin_locked', 2]],
      );
    } finally {
      await t.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
