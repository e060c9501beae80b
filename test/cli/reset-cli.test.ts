/**
 * An admin-started password reset: `rekey users reset` (a child process on the test app's
 * DATA_DIR) emails the user a link and a code through a real SMTP server; the link's page only
 * shows a form, the code binds the flow to the browser, the user proves a registered method and
 * chooses the password; `rekey users resets` lists what happened.
 */
import assert from 'node:assert/strict';
import request from 'supertest';
import { generateSecret } from 'otplib';
import { totpNow } from '../support/totp.ts';
import { runCli, type CliRun } from '../support/cli.ts';
import { FAST_ARGON2, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, hiddenValue } from '../support/browser.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../support/smtp-server.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';

const OLD = 'copper-finch-sings-early';
const NEW = 'violet-harbour-kites-drift';

function linkAndCode(mail: ReceivedMail): { path: string; handle: string; code: string } {
  const link = /(http:\/\/127\.0\.0\.1:\d+)(\/reset\/continue\?flow=([A-Za-z0-9_-]+))/.exec(mail.text);
  const code = /^ {4}([A-Za-z0-9_-]{20,64})$/m.exec(mail.text);
  if (!link || !code) throw new Error(`no link or code in mail:\n${mail.text}`);
  return { path: link[2]!, handle: link[3]!, code: code[1]! };
}

describe('rekey CLI: admin-started password reset', function () {
  this.timeout(120_000);
  let t: TestApp;
  let smtp: TestSmtpServer;
  let env: Record<string, string>;

  const policyEnv = { SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes' };

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ ...policyEnv, SMTP_URL: smtp.url, DEV_OUTBOX: 'false' });
    env = {
      NODE_ENV: 'test',
      DATA_DIR: t.dataDir,
      LOG_LEVEL: 'silent',
      DEMO: 'false',
      ISSUER: t.url,
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      ...policyEnv,
      ...FAST_ARGON2,
    };
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  const cli = (args: string[], extra: Record<string, string> = {}): Promise<CliRun> => runCli(args, { ...env, ...extra });
  const ok = (run: CliRun): CliRun => {
    assert.equal(run.code, 0, `exit 0 expected:\n${run.stdout}\n${run.stderr}`);
    return run;
  };

  /** An account with an email method and an authenticator app; returns the TOTP secret. */
  async function seed(login: string, options: { email?: boolean; methods?: boolean } = {}): Promise<{ id: string; totp: string }> {
    const { account } = await t.services.accounts.create({ login, ...(options.email === false ? {} : { email: `${login}@example.com` }), password: OLD });
    const totp = generateSecret();
    const now = t.services.clock();
    const methods: MethodRecord[] =
      options.methods === false
        ? []
        : [
            { id: `e-${login}`, kind: 'email', address: `${login}.private@example.org`, registeredAt: now, confirmedAt: now },
            { id: `t-${login}`, kind: 'authenticator_app', secret: t.services.box.seal(totp), lastStep: 0, registeredAt: now, confirmedAt: now },
          ];
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods, bootstrapProvenAt: now }));
    return { id: account.id, totp };
  }

  it('users reset: the user gets a link and a code, the link only shows a form, the code binds the flow, every proof still applies', async () => {
    const { id, totp } = await seed('rita');
    const sentBefore = smtp.messages.length;
    const run = ok(await cli(['users', 'reset', 'rita']));
    assert.match(run.stdout, /Sent a password reset to rita at rita@example\.com/);
    assert.match(run.stdout, /expires .* UTC \(in 15 minutes, RESET_FLOW_TTL_MINUTES\)/);

    const mail = await smtp.waitFor((m) => m.to.includes('rita@example.com') && smtp.messages.indexOf(m) >= sentBefore);
    assert.deepEqual(mail.to, ['rita@example.com'], 'only the primary address');
    assert.match(mail.subject, /Reset your rekey password|Reset your .* password/);
    const { path, handle, code } = linkAndCode(mail);
    assert.ok(!run.stdout.includes(code) && !run.stderr.includes(code), 'the admin never sees the code');
    assert.ok(code.length >= 24);

    // Opening the link (as a mail scanner would) does nothing but show the form.
    const browser = new Browser(t.url);
    const form = await browser.open(path);
    assert.equal(form.status, 200);
    assert.match(form.text, /Continue your password reset/);
    assert.match(form.text, /<form method="post" action="\/reset\/continue"/);
    assert.equal(hiddenValue(form.text, 'flow'), handle);
    assert.match(form.text, /name="code"/);
    assert.equal((await browser.get('/reset/flow')).status, 410, 'GET binds nothing');

    // A wrong code: 400 with a message, nothing bound.
    const wrong = await browser.submit(form, '/reset/continue', { flow: handle, code: 'A'.repeat(code.length) });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /That code is wrong, or this password reset has expired/);
    assert.match(wrong.text, /aria-invalid="true"/);
    assert.equal((await browser.get('/reset/flow')).status, 410, 'a wrong code binds nothing');
    const empty = await browser.submit(wrong, '/reset/continue', { flow: handle, code: '  ' });
    assert.equal(empty.status, 400);
    assert.match(empty.text, /Enter the code from the email/);

    // The form is CSRF-protected (double-submit cookie).
    const forged = await request(t.url).post('/reset/continue').type('form').send({ csrf: hiddenValue(form.text, 'csrf'), flow: handle, code });
    assert.equal(forged.status, 403, 'no cookie, no binding');
    const stranger = new Browser(t.url);
    await stranger.open(path);
    const crossed = await stranger.post('/reset/continue', { csrf: 'x'.repeat(24), flow: handle, code });
    assert.equal(crossed.status, 403);
    assert.equal((await stranger.get('/reset/flow')).status, 410);

    // The right code (pasted with the spaces around it) binds the flow; the proofs come next.
    const bound = await browser.post('/reset/continue', { csrf: hiddenValue(wrong.text, 'csrf'), flow: handle, code: ` ${code} ` });
    assert.equal(bound.status, 303);
    assert.equal(bound.location, '/reset/flow');
    const choose = await browser.follow(bound);
    assert.equal(choose.status, 200);
    assert.match(choose.text, /Prove it is you/);
    assert.match(choose.text, /\(0 of 1 done\)/);
    assert.match(choose.text, /Authenticator app/);
    const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: /id="ref-(m\d)" value="\1"[^>]*>\s*<label[^>]*>Authenticator app/.exec(choose.text)![1]! });
    assert.match(prove.text, /autocomplete="one-time-code"/);
    const newPassword = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(totp) });
    assert.match(newPassword.text, /Choose a new password/);
    assert.equal((await t.services.accounts.authenticate('rita', OLD, '10.3.0.1')).outcome, 'ok', 'nothing changed yet');
    const done = await browser.submit(newPassword, '/reset/flow', { password: NEW, confirm: NEW });
    assert.equal(done.status, 200);
    assert.match(done.text, /Password changed/);
    assert.equal((await t.services.accounts.authenticate('rita', NEW, '10.3.0.2')).outcome, 'ok');
    assert.equal((await t.services.accounts.authenticate('rita', OLD, '10.3.0.3')).outcome, 'failed');
    const notice = await smtp.waitFor((m) => m.to.includes('rita@example.com') && /password was reset/.test(m.subject));
    assert.doesNotMatch(notice.text, new RegExp(NEW));

    // The audit trail, as the admin reads it.
    const text = ok(await cli(['users', 'resets', 'rita'])).stdout;
    const lines = text.trim().split('\n');
    assert.match(lines[0]!, /^TIME\s+TYPE\s+OUTCOME\s+IP\s+REASON$/);
    assert.match(text, /reset\.completed\s+success\s+127\.0\.0\.1/);
    assert.match(text, /admin\.reset_started\s+success\s+cli/);
    assert.match(text, /reset\.started\s+success\s+cli/);
    const json = JSON.parse(ok(await cli(['users', 'resets', id, '--json'])).stdout) as { at: string; type: string; outcome: string; actor: string | null; ip: string | null; reason: string | null }[];
    assert.deepEqual(
      json.map((e) => e.type),
      ['reset.completed', 'reset.proof_succeeded', 'admin.reset_started', 'reset.started'],
      'newest first, only reset activity of this account',
    );
    assert.equal(json[2]!.actor, 'cli');
    assert.ok(json.every((e) => !Number.isNaN(Date.parse(e.at))));
    assert.ok(!JSON.stringify(json).includes(code), 'the code never lands in the audit trail');
  });

  it('users reset refuses accounts it cannot help (no email, nothing to prove, disabled, unknown), and a failed delivery starts nothing', async () => {
    await seed('nomail', { email: false });
    await seed('nomethods', { methods: false });
    const disabled = await seed('dora');
    await t.services.accounts.update(disabled.id, (a) => ({ ...a, status: 'disabled' }));
    const sent = smtp.messages.length;
    const [noMail, noMethods, off, unknown] = await Promise.all([
      cli(['users', 'reset', 'nomail']),
      cli(['users', 'reset', 'nomethods']),
      cli(['users', 'reset', 'dora']),
      cli(['users', 'reset', 'nobody-here']),
    ]);
    assert.equal(noMail.code, 1);
    assert.match(noMail.stderr, /error: nomail has no email address/);
    assert.equal(noMethods.code, 1);
    assert.match(noMethods.stderr, /error: nomethods has no usable recovery methods/);
    assert.equal(off.code, 1);
    assert.match(off.stderr, /error: dora is disabled/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no account "nobody-here"/);
    assert.equal(smtp.messages.length, sent, 'nothing was sent');

    const { id } = await seed('bounce');
    smtp.rejectRecipient('bounce@example.com');
    try {
      const failed = await cli(['users', 'reset', 'bounce']);
      assert.equal(failed.code, 1, failed.stdout);
      assert.match(failed.stderr, /error: the email to bounce@example\.com could not be sent, so no reset was started/);
    } finally {
      smtp.clear();
    }
    const events = (await t.services.audit.recent({ limit: 200 })).filter((e) => e.accountId === id && e.type === 'admin.reset_started');
    assert.deepEqual(events.map((e) => [e.outcome, e.reason]), [['failure', 'delivery_failed']]);

    // Every refusal is in the audit trail, with why.
    const refused = ok(await cli(['users', 'resets', 'nomethods'])).stdout;
    assert.match(refused, /admin\.reset_started\s+failure\s+-\s+no_methods/);
    await seed('quiet');
    const none = ok(await cli(['users', 'resets', 'quiet']));
    assert.match(none.stdout, /No reset activity for quiet in the last 30 days/);
    const badDays = await cli(['users', 'resets', 'rita', '--days', 'soon']);
    assert.equal(badDays.code, 1);
    assert.match(badDays.stderr, /--days "soon" is invalid/);
  });

  it('the link page: a malformed link is a clear 400, and GET never acts', async () => {
    const browser = new Browser(t.url);
    const bad = await browser.get('/reset/continue?flow=../../etc');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /This link is not valid/);
    const missing = await browser.get('/reset/continue');
    assert.equal(missing.status, 400);
    const unknown = await browser.get('/reset/continue?flow=AAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(unknown.status, 200, 'the page looks the same for any well-formed link: it reveals nothing');
    assert.match(unknown.text, /Continue your password reset/);
    const raw = await request(t.url).get('/reset/continue?flow=AAAAAAAAAAAAAAAAAAAAAA');
    assert.match(String(raw.headers['cache-control']), /no-store/);
    assert.ok(!String(raw.headers['set-cookie'] ?? '').includes('rekey_reset='), 'no flow cookie on GET');
  });
});
