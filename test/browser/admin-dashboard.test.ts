/**
 * In Chromium: an admin opens /admin, signs in with the password and the authenticator app,
 * and reads the report with its charts and the audit events; a plain user who tries is refused.
 * A month of activity is written into the audit stream first, so the charts have something to show.
 */
import assert from 'node:assert/strict';
import { Journey, useChromium } from '../support/chromium.ts';
import { AUDIT_STREAM } from '../../src/domain/audit.ts';
import { chooseMethod, DAY, enterCode, expectText, JOURNEY_TIMEOUT, PASSWORD, seedUser, submitPassword, totpNow, useJourneyApp, type JourneyApp } from './steps.ts';

/** A plausible month: resets and sign-ins each day, some failures, a lockout, a throttled IP. */
async function seedActivity(app: JourneyApp, accountIds: string[]): Promise<void> {
  const { store, clock } = app.t.services;
  const now = clock();
  const keep = now + 90 * DAY;
  const append = (at: number, event: Record<string, unknown>) => store.logs.append(AUDIT_STREAM, { at, ip: '10.0.0.7', userAgent: 'seed', ...event }, keep);
  for (let d = 29; d >= 1; d -= 1) {
    const day = now - d * DAY;
    const who = accountIds[d % accountIds.length]!;
    for (let i = 0; i < 3 + (d % 5); i += 1) {
      await append(day + i * 60_000, { type: 'signin.password', outcome: 'success', accountId: who, details: { client: 'demo' } });
      await append(day + i * 60_000 + 1, { type: 'signin.completed', outcome: 'success', accountId: who, details: { client: 'demo', acr: 'urn:rekey:acr:mfa', amr: 'pwd,otp,mfa' } });
    }
    if (d % 3 === 0) await append(day + 5000, { type: 'signin.password', outcome: 'failure', reason: 'wrong_credentials', accountId: who });
    if (d % 4 === 0) {
      await append(day + 7000, { type: 'reset.started', outcome: 'success', accountId: who });
      await append(day + 8000, { type: 'reset.proof_succeeded', outcome: 'success', accountId: who, details: { kind: 'email' } });
      await append(day + 9000, { type: 'reset.proof_succeeded', outcome: 'success', accountId: who, details: { kind: 'authenticator_app' } });
      if (d % 8 !== 0) await append(day + 10_000, { type: 'reset.completed', outcome: 'success', accountId: who, details: { proofs: 'email,authenticator_app', admin: false } });
      else await append(day + 10_000, { type: 'reset.proof_failed', outcome: 'failure', reason: 'code_wrong', accountId: who, details: { kind: 'mobile_phone' } });
    }
  }
  await append(now - 3 * DAY, { type: 'lockout.started', outcome: 'blocked', reason: 'soft', accountId: accountIds[0] });
  await append(now - 2 * DAY, { type: 'signin.password', outcome: 'blocked', reason: 'ip_throttled' });
}

describe('browser: admin dashboard', function () {
  this.timeout(JOURNEY_TIMEOUT);
  const chrome = useChromium();
  const app = useJourneyApp();

  for (const viewport of ['desktop', 'phone'] as const) {
    it(`${viewport}: an admin signs in with the authenticator app and reads the report, charts and audit events`, async () => {
      const admin = await seedUser(app.t, `root-${viewport}`);
      await app.t.services.accounts.setAdmin(admin.id, true);
      const users = await Promise.all(['ana', 'ben', 'cai'].map((n) => seedUser(app.t, `${n}-${viewport}`)));
      await app.t.services.accounts.create({ login: `dora-${viewport}`, email: `dora-${viewport}@example.com`, password: PASSWORD });
      await seedActivity(app, users.map((u) => u.id));

      const j = new Journey(`admin-dashboard-${viewport}`);
      const page = j.follow(await chrome.newUser(viewport));
      await page.goto(`${app.t.url}/admin`);
      await j.visit(page, 'sign-in', 'Sign in');
      await expectText(page, 'Sign in to continue to Admin dashboard.');
      await submitPassword(page, admin.login, PASSWORD);
      await j.visit(page, 'second-factor', 'Confirm it is you');
      await chooseMethod(page, /Authenticator app/);
      await enterCode(page, await totpNow(admin.totp));
      await j.visit(page, 'dashboard', 'Overview');

      await expectText(page, `Signed in as ${admin.login}`);
      const charts = page.getByRole('img');
      for (const name of ['Users in scope by registration', 'Methods registered', 'Resets per day', 'Sign-ins per day']) {
        assert.ok(await charts.filter({ has: page.locator(`xpath=self::*[@aria-label="${name}"]`) }).count(), `chart ${name}`);
      }
      const resetsStarted = await page.locator('#resets-daily table').evaluate((t) => t.querySelectorAll('tbody tr').length);
      assert.equal(resetsStarted, 30, 'one row per day of the period');
      // Figures are behind disclosures: open one by keyboard.
      const summary = page.locator('#coverage summary');
      await summary.focus();
      await page.keyboard.press('Enter');
      assert.equal(await page.locator('#coverage details').getAttribute('open'), '');

      await page.getByRole('link', { name: 'Audit events' }).click();
      await j.visit(page, 'audit', 'Audit events');
      await page.getByLabel('Event type').fill('reset.completed');
      await page.getByRole('button', { name: 'Filter' }).click();
      await j.visit(page, 'audit-filtered', 'Audit events');
      const types = await page.locator('table.figures tbody tr td:nth-child(2)').allTextContents();
      assert.ok(types.length > 0 && types.every((ty) => ty === 'reset.completed'), types.join());

      await page.getByRole('button', { name: 'Sign out' }).click();
      await j.visit(page, 'signed-out', 'Signed out of the admin dashboard');
    });
  }

  it('a user who is not an admin is refused after signing in', async () => {
    const user = await seedUser(app.t, 'eve-plain');
    const j = new Journey('admin-dashboard-refused');
    const page = j.follow(await chrome.newUser('desktop'));
    await page.goto(`${app.t.url}/admin`);
    await j.visit(page, 'sign-in', 'Sign in');
    await submitPassword(page, user.login, PASSWORD);
    await chooseMethod(page, /Authenticator app/);
    await enterCode(page, await totpNow(user.totp));
    await j.visit(page, 'refused', 'Access refused');
    await expectText(page, 'The admin dashboard is only for administrators.');
  });
});
