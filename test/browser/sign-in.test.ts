/**
 * In Chromium: signing in from the demo app with a password and an authenticator code.
 * At a desktop screen with the keyboard only (focus after each wrong submit lands on the field
 * to fix), at a phone-sized touch screen by tapping, and with JavaScript disabled (sign-in,
 * second factor, sign-out, then "Forgot password?" through to a new sign-in).
 */
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { Journey, useChromium } from '../support/chromium.ts';
import {
  chooseMethod,
  enterCode,
  expectSignedInAtDemo,
  expectFocusOnFirstError,
  expectText,
  focusedId,
  inbox,
  NEW_PASSWORD,
  openDemoSignIn,
  PASSWORD,
  seedUser,
  submitPassword,
  totpNow,
  JOURNEY_TIMEOUT,
  useJourneyApp,
} from './steps.ts';

/** Runs a keyboard action that submits a form, and waits for the next page to load. */
async function submits(page: Page, action: () => Promise<void>): Promise<void> {
  await Promise.all([page.waitForEvent('load'), action()]);
}

/** Presses Tab until `target` has the focus (at most `max` times): it is reachable by keyboard. */
async function tabTo(page: Page, target: Locator, max = 20): Promise<void> {
  for (let i = 0; i < max; i += 1) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`not reachable with Tab within ${max} presses: ${String(target)}`);
}

describe('browser: sign-in with a second factor', function () {
  this.timeout(JOURNEY_TIMEOUT);
  const chrome = useChromium();
  const app = useJourneyApp();

  it('desktop, keyboard only: empty and wrong submits put the focus on the field to fix; password, then the authenticator code', async () => {
    const user = await seedUser(app.t, 'kira-desktop');
    const j = new Journey('sign-in-2fa-desktop');
    const page = await chrome.newUser('desktop');
    await openDemoSignIn(j, page, app.t.url);
    const kb = page.keyboard;

    assert.equal(await focusedId(page), 'identifier', 'the first field has the focus when the page opens');
    await submits(page, () => kb.press('Enter'));
    await j.visit(page, 'sign-in-empty', 'Sign in');
    await expectText(page, 'Enter your username or email and your password.');
    await expectFocusOnFirstError(page, 'identifier');

    await kb.type(user.login);
    await kb.press('Tab');
    assert.equal(await focusedId(page), 'password', 'Tab goes from the username to the password');
    await kb.type('not-the-right-password');
    await submits(page, () => kb.press('Enter'));
    await j.visit(page, 'sign-in-wrong-password', 'Sign in');
    await expectText(page, 'The username or password is incorrect, or the account cannot sign in.');
    assert.equal(await page.getByLabel('Username or email').inputValue(), user.login, 'the username is kept');
    await expectFocusOnFirstError(page, 'password');

    await kb.type(PASSWORD);
    await submits(page, () => kb.press('Enter'));
    await j.visit(page, 'second-factor', 'Confirm it is you');
    await expectText(page, 'Your password was right. Now prove it is you with one of your methods.');
    assert.equal(await page.getByRole('radio').count(), 1, 'only the authenticator app is a second factor (email is not)');
    assert.ok(await page.getByRole('radio', { name: /^Authenticator app/ }).isChecked());
    await tabTo(page, page.getByRole('button', { name: 'Continue' }));
    await submits(page, () => kb.press('Enter'));

    await j.visit(page, 'second-factor-code', 'Authenticator app');
    assert.equal(await focusedId(page), 'code', 'the code field has the focus');
    await kb.type(await totpNow(user.totp));
    await submits(page, () => kb.press('Enter'));

    const claims = await expectSignedInAtDemo(j, page, user.login);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  });

  it('phone: tapping through password and authenticator code', async () => {
    const user = await seedUser(app.t, 'kira-phone');
    const j = new Journey('sign-in-2fa-phone');
    const page = await chrome.newUser('phone');
    await openDemoSignIn(j, page, app.t.url);
    await page.getByLabel('Username or email').fill(user.login);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await submits(page, () => page.getByRole('button', { name: 'Sign in', exact: true }).tap());
    await j.visit(page, 'second-factor', 'Confirm it is you');
    await submits(page, () => page.getByRole('button', { name: 'Continue' }).tap());
    await j.visit(page, 'second-factor-code', 'Authenticator app');
    await page.getByLabel('Code', { exact: true }).fill(await totpNow(user.totp));
    await submits(page, () => page.getByRole('button', { name: 'Continue' }).tap());
    const claims = await expectSignedInAtDemo(j, page, user.login);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  });

  it('JavaScript disabled: sign-in with a second factor, sign-out, "Forgot password?" with two proofs, sign-in with the new password', async () => {
    const user = await seedUser(app.t, 'noah-noscript', { phone: '+48601234509' });
    const mail = inbox(app);
    const j = new Journey('no-javascript');
    const page = await chrome.newUser('desktop', { javaScriptEnabled: false });
    await page.setContent('<title>before</title><script>document.title = "scripts ran"</script>');
    assert.equal(await page.title(), 'before', 'scripts are off in this browser');

    await openDemoSignIn(j, page, app.t.url);
    await submitPassword(page, user.login, PASSWORD);
    await j.visit(page, 'second-factor', 'Confirm it is you');
    await chooseMethod(page, /^Authenticator app/);
    await j.visit(page, 'second-factor-code', 'Authenticator app');
    await enterCode(page, await totpNow(user.totp));
    await expectSignedInAtDemo(j, page, user.login);

    // Sign out (rekey's own logout page, oidc-provider's form) and back at the demo app.
    await page.getByRole('link', { name: 'Sign out' }).click();
    await j.visit(page, 'sign-out', 'Sign out');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await j.visit(page, 'signed-out', 'Demo app');

    // "Forgot password?" from the sign-in page.
    await page.getByRole('link', { name: 'Sign in with rekey' }).click();
    await j.visit(page, 'sign-in-again', 'Sign in');
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await j.visit(page, 'reset-identify', 'Reset your password');
    await page.getByLabel('Username or email').fill(user.email);
    let since = mail.mark();
    await page.getByRole('button', { name: 'Continue' }).click();
    await j.visit(page, 'reset-choose', 'Prove it is you');
    await expectText(page, 'Choose how to prove it is you (0 of 2 done).');
    await chooseMethod(page, /^Email/);
    await j.visit(page, 'reset-email-code', 'Email');
    await enterCode(page, await mail.mailCode(user.privateEmail, since));
    await j.visit(page, 'reset-choose-again', 'Prove it is you');
    await expectText(page, 'Choose how to prove it is you (1 of 2 done).');
    since = mail.mark();
    await chooseMethod(page, /^Mobile phone – [^,]*$/);
    await j.visit(page, 'reset-sms-code', 'Mobile phone');
    await enterCode(page, await mail.smsCode(user.phone!, since));
    await j.visit(page, 'reset-new-password', 'Choose a new password');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set password and continue' }).click();
    await j.visit(page, 'reset-done', 'Password changed');

    await page.getByRole('link', { name: 'Sign in to rekey demo app again' }).click();
    await j.visit(page, 'sign-in-new-password', 'Sign in');
    await submitPassword(page, user.login, NEW_PASSWORD);
    await j.visit(page, 'second-factor-sms', 'Confirm it is you');
    since = mail.mark();
    // The authenticator code of this time step was used above; the phone serves now.
    await chooseMethod(page, /^Mobile phone – [^,]*$/);
    await j.visit(page, 'second-factor-sms-code', 'Mobile phone');
    await enterCode(page, await mail.smsCode(user.phone!, since));
    const claims = await expectSignedInAtDemo(j, page, user.login, 'demo-app-new-password');
    assert.deepEqual(claims.amr, ['pwd', 'sms', 'mfa']);
  });
});
