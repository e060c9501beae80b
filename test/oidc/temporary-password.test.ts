import assert from 'node:assert/strict';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';

for (const backend of BACKENDS) describe(`temporary password: must be changed at the first sign-in on ${backend}`, () => {
  let t: TestApp;
  let rp: RelyingParty;

  before(async () => {
    t = await startTestApp({}, {}, backend);
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(() => t.close());

  it('asks for a new password, enforces the rules, then finishes the sign-in and notifies the user', async () => {
    const { account, temporaryPassword } = await t.services.accounts.create({ login: 'grace', email: 'grace@example.com' });
    assert.ok(temporaryPassword && temporaryPassword.length >= 20);
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const change = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'grace', password: temporaryPassword! }, t.redirectUri);
    assert.equal(change.status, 200);
    assert.match(change.text, /Choose a new password/);
    assert.match(change.text, /autocomplete="new-password"/);

    const cases: [Record<string, string>, RegExp][] = [
      [{ password: 'short', confirm: 'short' }, /too short: use at least 15 characters/],
      [{ password: 'qwertyuiop12345', confirm: 'qwertyuiop12345' }, /too common/],
      [{ password: 'PasswordPassword', confirm: 'PasswordPassword' }, /too common/],
      [{ password: 'grace-is-my-long-name', confirm: 'grace-is-my-long-name' }, /may not contain your username/],
      [{ password: 'a-fine-long-passphrase', confirm: 'a-fine-long-passphrasX' }, /do not match/],
      [{ password: `${'x'.repeat(300)}`, confirm: `${'x'.repeat(300)}` }, /too long/],
    ];
    let page = change;
    for (const [fields, message] of cases) {
      const res = await browser.submit(page, formAction(page.text, '/new-password'), fields, t.redirectUri);
      assert.equal(res.status, 400, `${JSON.stringify(fields).slice(0, 60)} → ${res.status}`);
      assert.match(res.text, message);
      assert.match(res.text, /role="alert"/);
      page = res;
    }
    const unchanged = (await t.services.accounts.get(account.id))!;
    assert.equal(unchanged.mustChangePassword, true, 'rejected passwords change nothing');

    const done = await browser.submit(page, formAction(page.text, '/new-password'), { password: 'a-fine-long-passphrase', confirm: 'a-fine-long-passphrase' }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri), `expected the RP callback, got ${done.status}`);
    const tokens = await rp.finish(flow, done.location!);
    assert.equal(tokens.claims()!.sub, account.id);

    const stored = (await t.services.accounts.get(account.id))!;
    assert.equal(stored.mustChangePassword, false);
    assert.equal(stored.passwordExpiresAt, undefined);
    assert.equal((await t.services.accounts.authenticate('grace', temporaryPassword!, '10.0.0.1')).outcome, 'failed', 'the temporary password is gone');
    assert.equal((await t.services.accounts.authenticate('grace', 'a-fine-long-passphrase', '10.0.0.1')).outcome, 'ok');

    const mail = (await t.services.outbox!.list()).find((m) => m.to === 'grace@example.com');
    assert.ok(mail, 'the user is told the password changed');
    assert.match(mail.subject!, /password was changed/);
    assert.doesNotMatch(mail.text, /a-fine-long-passphrase/);
  });

  it('refuses an expired temporary password with a clear message', async () => {
    const { account, temporaryPassword } = await t.services.accounts.create({ login: 'henry', email: 'henry@example.com' });
    await t.services.accounts.update(account.id, (a) => ({ ...a, passwordExpiresAt: t.services.clock() - 1000 }));
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const res = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'henry', password: temporaryPassword! }, t.redirectUri);
    assert.equal(res.status, 401);
    assert.match(res.text, /temporary password has expired/);
  });
});
