/**
 * Remembered devices ("don't ask again on this device") after the fact: listed in My security
 * info (reached by a real sign-in at the test RP, then the password and a method's code from a
 * real SMTP server), forgotten one at a time or all at once (audited, told by email, CSRF and
 * fresh proof as for every change), forgotten all when a method is removed; and the admin CLI
 * `users devices` / `users forget-devices` run as a child process against the app's DATA_DIR.
 */
import assert from 'node:assert/strict';
import { BACKENDS, FAST_ARGON2, startTestApp, type TestApp } from '../support/test-app.ts';
import { hiddenValue } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { runCli, type CliRun } from '../support/cli.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';
import type { AccountRecord } from '../../src/store/types.ts';
import { securityInfoClient } from '../support/security-info-client.ts';

const PASSWORD = 'copper-meadow-sings-softly';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0';
const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36';
const POLICY = { SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes', SSPR_METHODS_REQUIRED: '1', REMEMBER_DEVICE_DAYS: '30' };
const DAY = 24 * 3600 * 1000;

/** The device id inside a device cookie `<account id>.<device id>.<secret>`. */
const deviceIdOf = (cookie: string): string => cookie.split('.')[1]!;

for (const backend of BACKENDS) describe(`Remembered devices in My security info on ${backend}`, function () {
  this.timeout(60_000);
  let t: TestApp;
  let rp: RelyingParty;
  let smtp: TestSmtpServer;

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ ...POLICY, SMTP_URL: smtp.url, DEV_OUTBOX: 'false' }, {}, backend);
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  /** An account with email methods (the first proves the page), so sign-in asks for no registration. */
  async function seed(login: string, extraMethods = 0): Promise<{ account: AccountRecord; address: string }> {
    const address = `${login}.home@example.net`;
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD });
    const now = t.services.clock();
    const methods: MethodRecord[] = [{ id: `m-${login}`, kind: 'email', address, registeredAt: now, confirmedAt: now }];
    for (let i = 1; i <= extraMethods; i += 1) methods.push({ id: `m${i}-${login}`, kind: 'email', address: `${login}.other${i}@example.org`, registeredAt: now, confirmedAt: now });
    return { account: await t.services.accounts.update(account.id, (a) => ({ ...a, methods })), address };
  }

  const get = async (id: string): Promise<AccountRecord> => (await t.services.accounts.get(id))!;

  async function remember(account: AccountRecord, userAgent: string): Promise<string> {
    return (await t.services.devices.remember((await get(account.id)), userAgent)).cookie;
  }

  const { signIn, mailTo, prove } = securityInfoClient(() => ({ t, rp, smtp }), PASSWORD);

  async function deviceEvents(accountId: string): Promise<{ actor?: string; outcome: string; reason?: string; details?: Record<string, unknown> }[]> {
    return (await t.services.audit.recent({ limit: 200 })).filter((e) => e.accountId === accountId && e.type === 'device.forgotten');
  }

  it('lists the remembered devices; "Forget" forgets one (told and audited), "Forget all devices" the rest', async () => {
    const { account, address } = await seed('ada');
    const firefox = await remember(account, FIREFOX_LINUX);
    const chrome = await remember(account, CHROME_WINDOWS);
    const stored = await get(account.id);
    assert.ok(t.services.devices.valid(stored, firefox), 'the seeded device counts');
    assert.ok(t.services.devices.valid(stored, chrome));

    const browser = await signIn('ada');
    const manage = await prove(browser, address);
    assert.match(manage.text, /<h2>Remembered devices<\/h2>/);
    assert.match(manage.text, /<strong>Firefox on Linux<\/strong>: remembered on \d{4}-\d\d-\d\d, until \d{4}-\d\d-\d\d/);
    assert.match(manage.text, /<strong>Chrome on Windows<\/strong>/);
    const created = new Date(t.services.clock()).toISOString().slice(0, 10);
    const expires = new Date(t.services.clock() + 30 * DAY).toISOString().slice(0, 10);
    assert.ok(manage.text.includes(`remembered on ${created}, until ${expires}`), 'created and expiry dates (REMEMBER_DEVICE_DAYS=30)');
    assert.match(manage.text, /aria-label="Forget Firefox on Linux">Forget<\/button>/);
    assert.match(manage.text, /action="\/account\/security\/devices\/forget-all"/);
    for (const cookie of [firefox, chrome]) assert.ok(!manage.text.includes(cookie.split('.')[2]!), 'no secret on the page');

    // Forget Firefox: gone from the store, its cookie no longer counts; Chrome stays.
    const before = smtp.messages.length;
    const forgot = await browser.submit(manage, '/account/security/devices/forget', { deviceId: deviceIdOf(firefox) });
    assert.equal(forgot.status, 200);
    assert.match(forgot.text, /Forgot Firefox on Linux: it asks for the second step again at the next sign-in\. We emailed you about the change\./);
    assert.doesNotMatch(forgot.text, /<strong>Firefox on Linux<\/strong>/);
    assert.match(forgot.text, /<strong>Chrome on Windows<\/strong>/);
    let after = await get(account.id);
    assert.deepEqual(after.devices?.map((d) => d.id), [deviceIdOf(chrome)]);
    assert.equal(t.services.devices.valid(after, firefox), undefined, 'the forgotten cookie no longer counts');
    assert.ok(t.services.devices.valid(after, chrome), 'the other device still counts');
    const notice = await mailTo('ada@example.com', before, /security info was changed/);
    assert.match(notice.text, /Remembered device forgotten: Firefox on Linux/);
    await mailTo(address, before, /security info was changed/);
    const one = (await deviceEvents(account.id)).find((e) => e.details?.all === false)!;
    assert.equal(one.actor, 'self');
    assert.equal(one.outcome, 'success');
    assert.equal(one.details?.deviceId, deviceIdOf(firefox));
    assert.equal(one.details?.label, 'Firefox on Linux');

    // Forgetting it again (a stale page): refused, nothing changes.
    const again = await browser.submit(forgot, '/account/security/devices/forget', { deviceId: deviceIdOf(firefox) });
    assert.equal(again.status, 409);
    assert.match(again.text, /That device is no longer remembered/);
    assert.equal((await get(account.id)).devices?.length, 1);

    // Forget all devices.
    const all = await browser.submit(again, '/account/security/devices/forget-all', {});
    assert.equal(all.status, 200);
    assert.match(all.text, /Forgot all remembered devices \(1\)/);
    assert.match(all.text, /No device is remembered\./);
    after = await get(account.id);
    assert.deepEqual(after.devices, []);
    assert.equal(t.services.devices.valid(after, chrome), undefined);
    const every = (await deviceEvents(account.id)).find((e) => e.details?.all === true)!;
    assert.equal(every.actor, 'self');
    assert.equal(every.details?.count, 1);
  });

  it('removing a method forgets every remembered device', async () => {
    const { account, address } = await seed('bo', 1);
    const firefox = await remember(account, FIREFOX_LINUX);
    const chrome = await remember(account, CHROME_WINDOWS);
    const browser = await signIn('bo');
    const manage = await prove(browser, address);
    assert.match(manage.text, /<strong>Firefox on Linux<\/strong>/);

    const removed = await browser.submit(manage, '/account/security/remove', { methodId: 'm1-bo' });
    assert.equal(removed.status, 200);
    assert.match(removed.text, /Removed: Email\. Your remembered devices were forgotten too/);
    assert.match(removed.text, /No device is remembered\./);
    const after = await get(account.id);
    assert.deepEqual((after.methods as MethodRecord[]).map((m) => m.id), ['m-bo']);
    assert.deepEqual(after.devices, []);
    assert.equal(t.services.devices.valid(after, firefox), undefined);
    assert.equal(t.services.devices.valid(after, chrome), undefined);
    const event = (await deviceEvents(account.id)).find((e) => e.details?.reason === 'method_removed')!;
    assert.ok(event, 'audited');
    assert.equal(event.actor, 'self');
    assert.equal(event.details?.count, 2);
  });

  it('forgetting needs the session CSRF token and a fresh proof of this session', async () => {
    const { account, address } = await seed('cy');
    const firefox = await remember(account, FIREFOX_LINUX);
    const first = await signIn('cy');
    const manage = await prove(first, address);

    const forged = await first.post('/account/security/devices/forget', { csrf: `${hiddenValue(manage.text, 'csrf')}x`, deviceId: deviceIdOf(firefox) });
    assert.equal(forged.status, 403);
    const missing = await first.post('/account/security/devices/forget-all', {});
    assert.equal(missing.status, 403);

    // Another session of the same user has not proven anything: its POST changes nothing.
    const second = await signIn('cy');
    const other = await second.open('/account/security');
    assert.match(other.text, /Step 1: your password/);
    const attempt = await second.submit(other, '/account/security/devices/forget-all', {});
    assert.match(attempt.text, /Step 1: your password/);

    const stored = await get(account.id);
    assert.equal(stored.devices?.length, 1);
    assert.ok(t.services.devices.valid(stored, firefox), 'still remembered');
    assert.deepEqual(await deviceEvents(account.id), []);
  });
});

describe('rekey CLI: users devices and users forget-devices', function () {
  this.timeout(120_000);
  let t: TestApp;
  let env: Record<string, string>;

  before(async () => {
    t = await startTestApp(POLICY);
    // The CLI shares the server's DATA_DIR (store and keys) and configuration, as in production.
    env = { NODE_ENV: 'test', DATA_DIR: t.dataDir, LOG_LEVEL: 'silent', DEMO: 'false', TWO_FACTOR: 'off', ISSUER: t.url, ...POLICY, ...FAST_ARGON2 };
  });
  after(async () => {
    await t?.close();
  });

  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> => runCli(args, { ...env, ...extra });
  const ok = (run: CliRun): CliRun => {
    assert.equal(run.code, 0, `exit 0 expected:\n${run.stdout}\n${run.stderr}`);
    return run;
  };
  const get = async (id: string): Promise<AccountRecord> => (await t.services.accounts.get(id))!;

  it('lists remembered devices as a table and JSON, never the secrets', async () => {
    const { account } = await t.services.accounts.create({ login: 'dee', email: 'dee@example.com', password: PASSWORD });
    const firefox = (await t.services.devices.remember(account, FIREFOX_LINUX)).cookie;
    const chrome = (await t.services.devices.remember(await get(account.id), CHROME_WINDOWS)).cookie;
    await t.services.accounts.create({ login: 'eve', email: 'eve@example.com', password: PASSWORD });

    const [textRun, jsonRun, none, missing] = await Promise.all([
      cli(['users', 'devices', 'dee']),
      cli(['users', 'devices', 'dee@example.com', '--json']),
      cli(['users', 'devices', 'eve']),
      cli(['users', 'devices', 'nobody']),
    ]);
    const text = ok(textRun).stdout;
    assert.match(text, /^ID\s+DEVICE\s+REMEMBERED\s+EXPIRES\s+LAST USED$/m);
    assert.match(text, new RegExp(`^${deviceIdOf(firefox)}\\s+Firefox on Linux\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC`, 'm'));
    assert.match(text, new RegExp(`^${deviceIdOf(chrome)}\\s+Chrome on Windows\\b`, 'm'));
    assert.match(text, /2 remembered devices\./);
    for (const cookie of [firefox, chrome]) assert.ok(!text.includes(cookie.split('.')[2]!), 'no secret');

    const json = JSON.parse(ok(jsonRun).stdout) as { login: string; enabled: boolean; devices: { id: string; label: string; createdAt: string; expiresAt: string; lastUsedAt: string | null }[] };
    assert.equal(json.login, 'dee');
    assert.equal(json.enabled, true);
    assert.deepEqual(json.devices.map((d) => [d.id, d.label]), [
      [deviceIdOf(firefox), 'Firefox on Linux'],
      [deviceIdOf(chrome), 'Chrome on Windows'],
    ]);
    assert.equal(Date.parse(json.devices[0]!.expiresAt) - Date.parse(json.devices[0]!.createdAt), 30 * DAY);
    assert.equal(json.devices[0]!.lastUsedAt, null);
    assert.ok(!JSON.stringify(json).includes('secretHash'));

    assert.match(ok(none).stdout, /eve has no remembered devices\./);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no account "nobody"/);
  });

  it('forgets one device with --device, then all; audited with actor cli', async () => {
    const { account } = await t.services.accounts.create({ login: 'fay', email: 'fay@example.com', password: PASSWORD });
    const firefox = (await t.services.devices.remember(account, FIREFOX_LINUX)).cookie;
    const chrome = (await t.services.devices.remember(await get(account.id), CHROME_WINDOWS)).cookie;

    const unknown = await cli(['users', 'forget-devices', 'fay', '--device', 'not-a-device']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /fay has no remembered device not-a-device/);
    assert.equal((await get(account.id)).devices?.length, 2, 'nothing forgotten');

    const one = ok(await cli(['users', 'forget-devices', 'fay', '--device', deviceIdOf(firefox)]));
    assert.match(one.stdout, new RegExp(`Forgot the remembered device ${deviceIdOf(firefox)} \\(Firefox on Linux\\) of fay`));
    let after = await get(account.id);
    assert.deepEqual(after.devices?.map((d) => d.id), [deviceIdOf(chrome)]);
    assert.equal(t.services.devices.valid(after, firefox), undefined);
    assert.ok(t.services.devices.valid(after, chrome));
    assert.doesNotMatch(ok(await cli(['users', 'devices', 'fay'])).stdout, /Firefox on Linux/);

    const all = ok(await cli(['users', 'forget-devices', 'fay']));
    assert.match(all.stdout, /Forgot 1 remembered device of fay/);
    after = await get(account.id);
    assert.deepEqual(after.devices, []);
    assert.equal(t.services.devices.valid(after, chrome), undefined);
    assert.match(ok(await cli(['users', 'forget-devices', 'fay'])).stdout, /fay has no remembered devices\./);

    const events = (await t.services.audit.recent({ limit: 100 })).filter((e) => e.accountId === account.id && e.type === 'device.forgotten');
    assert.equal(events.length, 2, 'one event per forgetting that removed something');
    assert.ok(events.every((e) => e.actor === 'cli' && e.outcome === 'success'));
    assert.ok(events.some((e) => e.details?.all === false && e.details.deviceId === deviceIdOf(firefox)));
    assert.ok(events.some((e) => e.details?.all === true && e.details.count === 1));
  });

  it('require-registration forgets the remembered devices with the methods', async () => {
    const { account } = await t.services.accounts.create({ login: 'gus', email: 'gus@example.com', password: PASSWORD });
    const now = t.services.clock();
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [{ id: 'm-gus', kind: 'email', address: 'gus.home@example.org', registeredAt: now, confirmedAt: now }] }));
    const cookie = (await t.services.devices.remember(await get(account.id), FIREFOX_LINUX)).cookie;
    ok(await cli(['users', 'require-registration', 'gus']));
    const after = await get(account.id);
    assert.equal(after.devices, undefined);
    assert.equal(t.services.devices.valid(after, cookie), undefined);
  });
});
