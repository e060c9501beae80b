/**
 * Invitations end to end over HTTP: the admin invites, the mail arrives at a real SMTP server,
 * the user opens the page from the link, sets a password, and the first sign-in goes straight
 * to registration: the accepted invitation was the bootstrap proof.
 */
import assert from 'node:assert/strict';
import request from 'supertest';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../support/smtp-server.ts';
import { Invitations } from '../../src/domain/invitations.ts';
import type { AccountRecord } from '../../src/store/types.ts';

const PASSWORD = 'juniper-falcon-orbit-drizzle';
const CODE = /(?<![a-z0-9-])[a-hjkmnp-z2-9]{5}(?:-[a-hjkmnp-z2-9]{5}){3}(?![a-z0-9-])/;
const INVALID = /The invitation is not valid or has expired\. Ask your administrator for a new one\./;

function invitationCode(mail: ReceivedMail): string {
  const m = CODE.exec(mail.text);
  if (!m) throw new Error(`no invitation code in mail: ${mail.text.slice(0, 400)}`);
  return m[0];
}

for (const backend of BACKENDS) describe(`invitations over HTTP on ${backend}`, function () {
  this.timeout(60_000);
  let t: TestApp;
  let smtp: TestSmtpServer;
  let rp: RelyingParty;
  let invitations: Invitations;

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes', SMTP_URL: smtp.url, DEV_OUTBOX: 'false' }, {}, backend);
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    invitations = new Invitations(t.services);
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  async function invite(login: string): Promise<{ account: AccountRecord; mail: ReceivedMail; code: string }> {
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, name: login, noPassword: true });
    await invitations.issue(account, { actor: 'cli' });
    const mail = await smtp.waitFor((m) => m.to.includes(`${login}@example.com`) && /invitation/i.test(m.subject));
    return { account, mail, code: invitationCode(mail) };
  }

  const get = async (id: string): Promise<AccountRecord> => (await t.services.accounts.get(id))!;

  it('invite → mail → form; a wrong code and a weak password change nothing; the right code sets the password; sign-in skips the bootstrap', async () => {
    const { account, mail, code } = await invite('ivy');
    const link = /https?:\/\/\S+\/invite\S*/.exec(mail.text)?.[0] ?? '';
    assert.ok(link.startsWith(`${t.url}/invite`), `the mail links to the invitation page: ${mail.text}`);
    assert.ok(!link.includes(code), 'the code is not in the link');

    const browser = new Browser(t.url);
    const form = await browser.get(link);
    assert.equal(form.status, 200);
    assert.match(form.text, /<h1>Set your password<\/h1>/);
    assert.match(form.text, /<label for="identifier">Username or email<\/label>/);
    assert.match(form.text, /id="identifier" name="identifier" value="ivy" autocomplete="username"/, 'the link prefills the login');
    assert.match(form.text, /<label for="code">Invitation code<\/label>/);
    assert.match(form.text, /id="code" name="code" value="" autocomplete="one-time-code"/);
    assert.match(form.text, /id="password" name="password" autocomplete="new-password"/);
    assert.match(form.text, /id="confirm" name="confirm" autocomplete="new-password"/);
    const csrf = hiddenValue(form.text, 'csrf');
    // GET changed nothing: the invitation waits for the POST.
    assert.equal((await get(account.id)).passwordHash, undefined);

    const headers = await browser.agent.get('/invite');
    assert.equal(headers.headers['cache-control'], 'no-store');
    const cookie = (headers.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('invite_csrf='));
    assert.ok(cookie, 'the CSRF cookie is set');
    assert.match(cookie, /httponly/i);
    assert.match(cookie, /samesite=strict/i);
    assert.ok((headers.headers['set-cookie'] as unknown as string[]).some((c) => c.startsWith('invite_csrf.sig=')), 'signed');
    assert.equal(hiddenValue(headers.text, 'csrf'), csrf, 'the token stays the same for this browser');

    const untouched = await get(account.id);
    const post = (fields: Record<string, string>) => browser.post('/invite', { csrf, ...fields });

    const wrong = await post({ identifier: 'ivy', code: code === 'aaaaa-bbbbb-ccccc-ddddd' ? 'ccccc-bbbbb-ccccc-ddddd' : 'aaaaa-bbbbb-ccccc-ddddd', password: PASSWORD, confirm: PASSWORD });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, INVALID);
    assert.match(wrong.text, /class="alert" role="alert"/);
    const unknown = await post({ identifier: 'nobody-here', code, password: PASSWORD, confirm: PASSWORD });
    assert.equal(unknown.status, 400, 'an unknown identifier gets the same answer');
    assert.match(unknown.text, INVALID);
    assert.equal(wrong.text.replace(/value="[^"]*"/g, ''), unknown.text.replace(/value="[^"]*"/g, ''), 'same page for unknown users');
    assert.deepEqual(await get(account.id), untouched, 'a wrong code changes nothing');

    const mismatch = await post({ identifier: 'ivy', code, password: PASSWORD, confirm: `${PASSWORD}x` });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.text, /aria-describedby="confirm-error" aria-invalid="true"/);
    assert.match(mismatch.text, /<p class="error" id="confirm-error">The two passwords do not match\.<\/p>/);
    assert.match(mismatch.text, /<div class="alert" role="alert">[\s\S]*<a href="#confirm">The two passwords do not match\.<\/a>/, 'the summary alert announces it and links to the field');

    const weak = await post({ identifier: 'ivy', code, password: 'short', confirm: 'short' });
    assert.equal(weak.status, 400);
    assert.match(weak.text, /aria-describedby="password-hint password-error" aria-invalid="true"/);
    assert.match(weak.text, /<p class="error" id="password-error">The password is too short: use at least 15 characters\.<\/p>/);
    assert.match(weak.text, /<div class="alert" role="alert">[\s\S]*<a href="#password">The password is too short/, 'the summary alert announces it and links to the field');
    assert.doesNotMatch(weak.text, INVALID);
    const common = await post({ identifier: 'ivy@example.com', code: code.toUpperCase(), password: 'ivy-password-ivy-password', confirm: 'ivy-password-ivy-password' });
    assert.equal(common.status, 400);
    assert.match(common.text, /The password may not contain your username or email\./);
    assert.deepEqual(await get(account.id), untouched, 'a refused password changes nothing');

    const done = await post({ identifier: 'ivy', code, password: PASSWORD, confirm: PASSWORD });
    assert.equal(done.status, 200, done.text.slice(0, 600));
    assert.match(done.text, /Your password is set\. You can now sign in to your applications\./);
    const after = await get(account.id);
    assert.ok(after.passwordHash);
    assert.equal(after.emails[0]!.verified, true, 'the invitation proved the primary address');
    assert.equal(typeof after.bootstrapProvenAt, 'number');

    const again = await post({ identifier: 'ivy', code, password: 'another-quiet-river-stone', confirm: 'another-quiet-river-stone' });
    assert.equal(again.status, 400, 'the code works once');
    assert.match(again.text, INVALID);
    assert.equal((await get(account.id)).passwordHash, after.passwordHash);

    // The first sign-in: password, then straight to registration, no bootstrap page or code.
    const before = smtp.messages.length;
    const user = new Browser(t.url);
    const flow = await rp.start();
    const signin = await user.open(flow.url.toString(), t.redirectUri);
    const page = await user.submit(signin, formAction(signin.text, '/password'), { identifier: 'ivy', password: PASSWORD }, t.redirectUri);
    assert.equal(page.status, 200, page.text.slice(0, 600));
    assert.match(page.text, /Set up account recovery/);
    assert.doesNotMatch(page.text, /Confirm it is you/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(smtp.messages.slice(before).filter((m) => m.to.includes('ivy@example.com')).length, 0, 'no bootstrap code was sent');

    // Control: without an accepted invitation the same sign-in asks for the bootstrap proof first.
    await t.services.accounts.create({ login: 'ida', email: 'ida@example.com', password: PASSWORD });
    const other = new Browser(t.url);
    const otherSignin = await other.open((await rp.start()).url.toString(), t.redirectUri);
    const bootstrap = await other.submit(otherSignin, formAction(otherSignin.text, '/password'), { identifier: 'ida', password: PASSWORD }, t.redirectUri);
    assert.match(bootstrap.text, /Confirm it is you/);

    const events = await t.services.audit.recent({ limit: 100 });
    const mine = events.filter((e) => e.accountId === account.id).map((e) => `${e.type}:${e.outcome}`);
    for (const expected of ['invite.sent:success', 'invite.failed:failure', 'invite.accepted:success']) assert.ok(mine.includes(expected), `${expected} in ${mine.join(', ')}`);
    assert.ok(!JSON.stringify(events).includes(code), 'no code in the audit trail');
  });

  it('refuses a POST without the CSRF cookie or with a token that does not match it (403), consuming nothing', async () => {
    const { account, code } = await invite('jon');
    const fields = { identifier: 'jon', code, password: PASSWORD, confirm: PASSWORD };

    const stranger = new Browser(t.url);
    const token = hiddenValue((await new Browser(t.url).get('/invite')).text, 'csrf');
    const noCookie = await stranger.post('/invite', { csrf: token, ...fields });
    assert.equal(noCookie.status, 403);
    const bare = await request(t.url).post('/invite').type('form').send(fields);
    assert.equal(bare.status, 403);

    const browser = new Browser(t.url);
    await browser.get('/invite');
    const mismatch = await browser.post('/invite', { csrf: token, ...fields });
    assert.equal(mismatch.status, 403, 'a token from another browser does not match this cookie');
    assert.equal((await get(account.id)).passwordHash, undefined, 'nothing changed');

    // The invitation is still there for the real form.
    const form = await browser.get('/invite');
    const ok = await browser.post('/invite', { csrf: hiddenValue(form.text, 'csrf'), ...fields });
    assert.equal(ok.status, 200);
  });

  it('an invitation dies after 5 wrong codes, and an expired one is refused the same way', async () => {
    const { account, code } = await invite('kai');
    const browser = new Browser(t.url);
    const csrf = hiddenValue((await browser.get('/invite')).text, 'csrf');
    for (let i = 0; i < 5; i += 1) {
      const wrong = await browser.post('/invite', { csrf, identifier: 'kai', code: `aaaaa-bbbbb-ccccc-dddd${'defgh'[i]}`, password: PASSWORD, confirm: PASSWORD });
      assert.equal(wrong.status, 400);
    }
    const late = await browser.post('/invite', { csrf, identifier: 'kai', code, password: PASSWORD, confirm: PASSWORD });
    assert.equal(late.status, 400);
    assert.match(late.text, INVALID);
    assert.equal((await get(account.id)).passwordHash, undefined);

    // Aged by writing its timestamp: the stored expiry decides.
    const { account: lea, code: leaCode } = await invite('lea');
    const key = `{a:${lea.id}}:invite`;
    const stored = (await t.services.store.ephemeral.get<{ hash: string; expiresAt: number }>(key))!;
    await t.services.store.ephemeral.put(key, { ...stored, expiresAt: t.services.clock() - 1 }, t.services.clock() + 60_000);
    const expired = await browser.post('/invite', { csrf, identifier: 'lea', code: leaCode, password: PASSWORD, confirm: PASSWORD });
    assert.equal(expired.status, 400);
    assert.match(expired.text, INVALID);
    assert.equal((await get(lea.id)).passwordHash, undefined);
  });
});
