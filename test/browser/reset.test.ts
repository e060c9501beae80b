/**
 * In Chromium: "Forgot password?" from the sign-in page of the demo app. Two proofs (an email
 * code and a text message), a new password, "Sign in to rekey demo app again", a sign-in with
 * the new password and the authenticator app. Another browser that was signed in before the
 * reset has lost its session: My security info and a new authorization ask it to sign in.
 */
import assert from 'node:assert/strict';
import { Journey, useChromium } from '../support/chromium.ts';
import {
  chooseMethod,
  enterCode,
  expectFocusOnFirstError,
  expectSignedInAtDemo,
  expectText,
  inbox,
  NEW_PASSWORD,
  openDemoSignIn,
  PASSWORD,
  seedUser,
  submitPassword,
  totpNow,
  VARIANTS,
  JOURNEY_TIMEOUT,
  useJourneyApp,
} from './steps.ts';

/** A mobile phone's text-message option (not "call me instead" / "Phone call"). */
const SMS = /^Mobile phone – [^,]*$/;

describe('browser: self-service password reset', function () {
  this.timeout(JOURNEY_TIMEOUT);
  const chrome = useChromium();
  const app = useJourneyApp();

  for (const [i, variant] of VARIANTS.entries()) {
    it(`${variant}: forgot password → email code + text message → new password → signed in again; the older session is gone`, async () => {
      const { t } = app;
      const user = await seedUser(t, `uma-${variant}`, { phone: `+4860123450${i + 1}` });
      const mail = inbox(app);
      const j = new Journey(`reset-${variant}`);

      // Another browser signs in before the reset (password + text message) and opens My security info.
      const old = await chrome.newUser(variant);
      await openDemoSignIn(j, old, t.url, 'other-browser-');
      await submitPassword(old, user.login, PASSWORD);
      await j.visit(old, 'other-browser-second-factor', 'Confirm it is you');
      let since = mail.mark();
      await chooseMethod(old, SMS);
      await j.visit(old, 'other-browser-sms-code', 'Mobile phone');
      await enterCode(old, await mail.smsCode(user.phone!, since));
      await expectSignedInAtDemo(j, old, user.login, 'other-browser-signed-in');
      await old.goto(`${t.url}/account/security`);
      await j.visit(old, 'other-browser-my-security-info', 'My security info');
      await expectText(old, 'Step 1: your password');

      // This browser: "Forgot password?" on the sign-in page.
      const page = await chrome.newUser(variant);
      await openDemoSignIn(j, page, t.url);
      await page.getByRole('link', { name: 'Forgot password?' }).click();
      await j.visit(page, 'identify', 'Reset your password');
      await page.getByLabel('Username or email').fill(user.login);
      await page.getByRole('button', { name: 'Continue' }).click();

      await j.visit(page, 'prove-it-is-you', 'Prove it is you');
      await expectText(page, 'Choose how to prove it is you (0 of 2 done).');
      since = mail.mark();
      await chooseMethod(page, /^Email/);
      await j.visit(page, 'email-code', 'Email');
      await expectText(page, /We sent a code to u•••@e•••\.org/);
      await enterCode(page, await mail.mailCode(user.privateEmail, since));

      await j.visit(page, 'prove-it-is-you-again', 'Prove it is you');
      await expectText(page, 'Choose how to prove it is you (1 of 2 done).');
      assert.equal(await page.getByRole('radio', { name: /^Email/ }).count(), 0, 'the proven method is not offered again');
      since = mail.mark();
      await chooseMethod(page, SMS);
      await j.visit(page, 'sms-code', 'Mobile phone');
      await enterCode(page, await mail.smsCode(user.phone!, since));

      await j.visit(page, 'new-password', 'Choose a new password');
      await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
      await page.getByLabel('New password again').fill(`${NEW_PASSWORD}-typo`);
      await page.getByRole('button', { name: 'Set password and continue' }).click();
      await j.visit(page, 'new-password-mismatch', 'Choose a new password');
      await expectText(page, 'The two passwords do not match.');
      await expectFocusOnFirstError(page, 'confirm');
      await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
      await page.getByLabel('New password again').fill(NEW_PASSWORD);
      await page.getByRole('button', { name: 'Set password and continue' }).click();
      await j.visit(page, 'password-changed', 'Password changed');
      await expectText(page, 'Your password was changed and every earlier session was signed out.');
      for (const to of [user.email, user.privateEmail]) {
        const notice = await mail.mail(to, { mail: 0 }, /password was reset/);
        assert.ok(!notice.text.includes(NEW_PASSWORD), 'the new password is not in the mail');
      }

      // No automatic sign-in: back to the demo app's sign-in with the new password.
      await page.getByRole('link', { name: 'Sign in to rekey demo app again' }).click();
      await j.visit(page, 'sign-in-again', 'Sign in');
      await expectText(page, 'Sign in to continue to rekey demo app.');
      await submitPassword(page, user.login, NEW_PASSWORD);
      await j.visit(page, 'second-factor', 'Confirm it is you');
      await chooseMethod(page, /^Authenticator app/);
      await j.visit(page, 'authenticator-code', 'Authenticator app');
      await enterCode(page, await totpNow(user.totp));
      const claims = await expectSignedInAtDemo(j, page, user.login);
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);

      // The other browser's session did not survive the reset.
      await old.reload();
      await j.visit(old, 'other-browser-signed-out', 'Sign in to manage your security info');
      await old.goto(`${t.url}/demo/login`);
      await j.visit(old, 'other-browser-must-sign-in', 'Sign in');
      assert.match(new URL(old.url()).pathname, /^\/interaction\//, 'the authorization request stops at the sign-in page');
    });
  }
});
