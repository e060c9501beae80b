/**
 * The admin dashboard at /admin: rekey is its own relying party; only an active admin who
 * signs in afresh with a second factor gets in. Refusals are audited; the session ends with
 * a sign-out, an expiry or "sign out everywhere".
 */
import assert from 'node:assert/strict';
import { totpNow } from '../support/totp.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { seedWithMethods } from '../support/seed.ts';

const PASSWORD = 'granite-owl-watches-the-bay';

/** Follows /admin → /admin/login → sign-in pages, answering the password (and the TOTP when asked). */
async function signInToDashboard(t: TestApp, browser: Browser, login: string, totp?: string): Promise<Page> {
  const start = await browser.open('/admin');
  assert.equal(start.status, 200, start.text.slice(0, 300));
  assert.match(start.text, /<h1>Sign in<\/h1>/, 'the dashboard sends a visitor to the sign-in page');
  assert.match(start.text, /Admin dashboard/, 'the sign-in page names the dashboard as the application');
  let page = await browser.submit(start, formAction(start.text, '/password'), { identifier: login, password: PASSWORD });
  if (/second-factor/.test(page.text) && totp) {
    const ref = /name="ref" id="ref-(f\d)" value="\1"/.exec(page.text)![1]!;
    const proof = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref });
    page = await browser.submit(proof, formAction(proof.text, '/second-factor'), { action: 'finish', code: await totpNow(totp) });
  }
  return page;
}

describe('admin dashboard', function () {
  this.timeout(60_000);
  let t: TestApp;

  before(async () => {
    t = await startTestApp({ TWO_FACTOR: 'admins', SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes' });
  });
  after(() => t?.close());

  const refusals = async (reason: string) =>
    (await t.services.audit.recent({ limit: 500 })).filter((e) => e.type === 'admin.dashboard.signin' && e.outcome === 'failure' && e.reason === reason);

  it('an admin with a second factor sees the report with charts and the audit events; sign-out ends it', async () => {
    const { id, totp } = await seedWithMethods(t.services, 'ines', PASSWORD, true);
    await seedWithMethods(t.services, 'otto', PASSWORD);
    const browser = new Browser(t.url);
    const page = await signInToDashboard(t, browser, 'ines', totp);
    assert.equal(page.status, 200, page.text.slice(0, 500));
    assert.match(page.text, /<h1>Overview<\/h1>/);
    assert.match(page.text, /Signed in as ines/);
    assert.match(page.text, /<svg viewBox="[^"]+" role="img" aria-label="Users in scope by registration"/);
    assert.match(page.text, /<svg viewBox="[^"]+" role="img" aria-label="Resets per day"/);
    assert.match(page.text, /<th scope="row">Registered<\/th><td>2<\/td>/, 'both seeded users are registered (email + app)');
    assert.doesNotMatch(page.text, /https?:\/\/(?!127\.0\.0\.1)/, 'no external resources');

    const week = await browser.open('/admin?days=7');
    assert.match(week.text, /aria-current="page">Last 7 days/);

    const audit = await browser.open('/admin/audit?type=admin&outcome=success');
    assert.equal(audit.status, 200);
    assert.match(audit.text, /<h1>Audit events<\/h1>/);
    assert.match(audit.text, /admin\.dashboard\.signin/);
    assert.match(audit.text, /<td>ines<\/td>/);
    const signins = await browser.open('/admin/audit?type=signin.password');
    assert.match(signins.text, /signin\.password/);
    assert.doesNotMatch(signins.text, /admin\.dashboard\.signin/, 'the type filter applies');

    const events = (await t.services.audit.recent({ limit: 100 })).filter((e) => e.type === 'admin.dashboard.signin' && e.accountId === id);
    assert.equal(events[0]?.outcome, 'success');

    // The page reads the last 30 days of the trail; older events are for `rekey audit`.
    const now = t.services.clock();
    await t.services.store.logs.append('audit', { at: now - 40 * 86_400_000, type: 'invite.accepted', outcome: 'success', details: { marker: 'old' } }, now + 86_400_000);
    await t.services.store.logs.append('audit', { at: now - 2 * 86_400_000, type: 'invite.accepted', outcome: 'success', details: { marker: 'recent' } }, now + 86_400_000);
    const invites = await browser.open('/admin/audit?type=invite.accepted');
    assert.match(invites.text, /marker=recent/);
    assert.doesNotMatch(invites.text, /marker=old/);
    assert.match(invites.text, /last 30 days/);

    // Sign-out needs the form's CSRF token; then the dashboard asks for a sign-in again.
    const forged = await browser.post('/admin/logout', { csrf: 'forged-token-forged-token' });
    assert.equal(forged.status, 403);
    assert.equal((await browser.open('/admin')).status, 200);
    const out = await browser.post('/admin/logout', { csrf: hiddenValue(page.text, 'csrf') });
    assert.equal(out.status, 200);
    assert.match(out.text, /signed out of the admin dashboard/i);
    const after = await browser.get('/admin');
    assert.equal(after.status, 302);
    assert.equal(after.location, '/admin/login');
  });

  it('a non-admin is refused after signing in, and the refusal is audited', async () => {
    const { totp } = await seedWithMethods(t.services, 'paula', PASSWORD);
    const browser = new Browser(t.url, { 'User-Agent': 'dashboard-test/1.0' });
    const page = await signInToDashboard(t, browser, 'paula', totp);
    assert.equal(page.status, 403);
    assert.match(page.text, /only for administrators/);
    assert.equal((await browser.get('/admin')).status, 302, 'no dashboard session was made');
    const refused = await refusals('not_admin');
    assert.ok(refused.length >= 1);
    assert.equal(refused[0]!.ip, '127.0.0.1', 'the request scope records where the attempt came from');
    assert.equal(refused[0]!.userAgent, 'dashboard-test/1.0');
  });

  it('an admin without a second factor is refused with what to do', async () => {
    const t2 = await startTestApp({ TWO_FACTOR: 'off' });
    try {
      await t2.services.accounts.create({ login: 'rafa', email: 'rafa@example.com', password: PASSWORD, admin: true });
      const browser = new Browser(t2.url);
      const page = await signInToDashboard(t2, browser, 'rafa');
      assert.equal(page.status, 403, page.text.slice(0, 500));
      assert.match(page.text, /needs a sign-in with a second factor/);
      assert.equal((await browser.get('/admin')).status, 302);
      const refused = (await t2.services.audit.recent({ limit: 100 })).filter((e) => e.type === 'admin.dashboard.signin');
      assert.equal(refused[0]?.reason, 'no_second_factor');
    } finally {
      await t2.close();
    }
  });

  it('"sign out everywhere" and losing the admin role end a dashboard session at once', async () => {
    const { id, totp } = await seedWithMethods(t.services, 'sven', PASSWORD, true);
    const browser = new Browser(t.url);
    assert.equal((await signInToDashboard(t, browser, 'sven', totp)).status, 200);
    assert.equal((await browser.get('/admin')).status, 200);
    await t.services.accounts.signOutEverywhere(id);
    assert.equal((await browser.get('/admin')).status, 302, 'the dashboard session died with the others');

    const { id: id2, totp: totp2 } = await seedWithMethods(t.services, 'tilda', PASSWORD, true);
    const second = new Browser(t.url);
    // A new TOTP step: the code just used for sven is a different secret, so no replay issue.
    assert.equal((await signInToDashboard(t, second, 'tilda', totp2)).status, 200);
    await t.services.accounts.setAdmin(id2, false);
    assert.equal((await second.get('/admin/audit')).status, 302, 'no longer an admin, no longer in');
  });

  it('ADMIN_DASHBOARD=false serves no dashboard and registers no client', async () => {
    const t3 = await startTestApp({ ADMIN_DASHBOARD: 'false' });
    try {
      assert.equal((await fetch(`${t3.url}/admin`, { redirect: 'manual' })).status, 404);
      assert.equal((await fetch(`${t3.url}/admin/login`, { redirect: 'manual' })).status, 404);
    } finally {
      await t3.close();
    }
  });
});
