/**
 * In Chromium: a user whose registration is older than SSPR_RECONFIRM_DAYS (aged by writing
 * timestamps) is asked at sign-in whether the methods are still right, confirms, then opens
 * My security info (password, then an email code), adds a mobile phone (text message from the
 * gateway) and removes the email method; the removed address is told.
 */
import assert from 'node:assert/strict';
import { Journey, useChromium } from '../support/chromium.ts';
import {
  chooseMethod,
  enterCode,
  expectSignedInAtDemo,
  expectText,
  inbox,
  openDemoSignIn,
  PASSWORD,
  seedUser,
  submitPassword,
  totpNow,
  VARIANTS,
  JOURNEY_TIMEOUT,
  useJourneyApp,
} from './steps.ts';

describe('browser: re-confirmation and My security info', function () {
  this.timeout(JOURNEY_TIMEOUT);
  const chrome = useChromium();
  const app = useJourneyApp();

  for (const [i, variant] of VARIANTS.entries()) {
    it(`${variant}: re-confirm after 180 days at sign-in, then add a mobile phone and remove the email method`, async () => {
      const { t } = app;
      const user = await seedUser(t, `quinn-${variant}`, { confirmedDaysAgo: 181 });
      const phone = `+4860123452${i + 1}`;
      const mail = inbox(app);
      const j = new Journey(`security-info-${variant}`);
      const page = await chrome.newUser(variant);

      await openDemoSignIn(j, page, t.url);
      await submitPassword(page, user.login, PASSWORD);
      await j.visit(page, 'second-factor', 'Confirm it is you');
      await chooseMethod(page, /^Authenticator app/);
      await j.visit(page, 'second-factor-code', 'Authenticator app');
      await enterCode(page, await totpNow(user.totp));

      // The registration is older than the period: asked once, inside the sign-in.
      await j.visit(page, 'reconfirm', 'Are these still right?');
      await expectText(page, /Every 180 days we ask you to check/);
      await expectText(page, 'q•••@e•••.org');
      await page.getByRole('button', { name: 'Yes, they are still right' }).click();
      await expectSignedInAtDemo(j, page, user.login);

      // My security info: the password, then one registered method (the email code).
      await page.goto(`${t.url}/account/security`);
      await j.visit(page, 'password-step', 'My security info');
      await expectText(page, 'Step 1: your password');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Continue' }).click();
      await j.visit(page, 'method-step', 'My security info');
      await expectText(page, 'Step 2: prove it is you with one of your registered methods.');
      let since = mail.mark();
      await chooseMethod(page, /^Email/);
      await j.visit(page, 'email-code', 'Email');
      await enterCode(page, await mail.mailCode(user.privateEmail, since));

      await j.visit(page, 'my-security-info', 'My security info');
      await expectText(page, 'Your methods');
      const methods = page.locator('ul.methods > li');
      assert.equal(await methods.count(), 2);

      // Add a mobile phone.
      await page.getByRole('button', { name: 'Add a method' }).click();
      await j.visit(page, 'add-method', 'Set up account recovery');
      await chooseMethod(page, /^Mobile phone/);
      await j.visit(page, 'phone-number', 'Mobile phone');
      await page.getByLabel('Phone number').fill(`${phone.slice(0, 3)} ${phone.slice(3, 6)} ${phone.slice(6, 9)} ${phone.slice(9)}`);
      assert.ok(await page.getByRole('radio', { name: 'Text message' }).isChecked(), 'a text message by default');
      since = mail.mark();
      await page.getByRole('button', { name: 'Continue' }).click();
      await j.visit(page, 'phone-code', 'Mobile phone');
      await expectText(page, /We sent a code to \+48 ••• ••• •2\d/);
      await enterCode(page, await mail.smsCode(phone, since));
      await j.visit(page, 'method-added', 'My security info');
      await expectText(page, 'Added: Mobile phone. We emailed you about the change.');
      assert.equal(await methods.count(), 3);

      // Remove the email method.
      since = mail.mark();
      await page.getByRole('button', { name: /^Remove Email/ }).click();
      await j.visit(page, 'method-removed', 'My security info');
      await expectText(page, 'Removed: Email. We emailed you about the change.');
      const left = (await methods.allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
      assert.equal(left.length, 2, left.join(' | '));
      assert.ok(left.some((s) => s.startsWith('Authenticator app')) && left.some((s) => s.startsWith('Mobile phone')), left.join(' | '));
      assert.ok(!left.some((s) => s.startsWith('Email')), 'the email method is gone');
      const told = await mail.mail(user.privateEmail, since, /security info was changed/);
      assert.match(told.text, /Recovery method removed: Email/);
    });
  }
});
