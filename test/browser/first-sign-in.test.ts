/**
 * In Chromium: a user in SSPR scope signs in for the first time from the demo app, proves the
 * bootstrap code sent to the primary address, is made to register an email address and an
 * authenticator app (QR page, TOTP from the key shown), and lands back at the demo app with
 * the claims. At a desktop and a phone-sized screen; every page passes axe and is shot.
 */
import assert from 'node:assert/strict';
import { Journey, useChromium } from '../support/chromium.ts';
import { enterCode, expectFocusOnFirstError, expectSignedInAtDemo, expectText, inbox, openDemoSignIn, PASSWORD, submitPassword, totpNow, VARIANTS, JOURNEY_TIMEOUT, useJourneyApp } from './steps.ts';

describe('browser: first sign-in with registration of recovery methods', function () {
  this.timeout(JOURNEY_TIMEOUT);
  const chrome = useChromium();
  const app = useJourneyApp();

  for (const variant of VARIANTS) {
    it(`${variant}: bootstrap proof, forced registration of email and authenticator app, claims at the demo app`, async () => {
      const { t } = app;
      const login = `nina-${variant}`;
      const primary = `${login}@example.com`;
      const recovery = `${login}.home@example.net`;
      await t.services.accounts.create({ login, email: primary, name: 'Nina Example', password: PASSWORD });
      const mail = inbox(app);
      const j = new Journey(`first-sign-in-${variant}`);
      const page = await chrome.newUser(variant);

      await openDemoSignIn(j, page, t.url);
      let since = mail.mark();
      await submitPassword(page, login, PASSWORD);

      // The bootstrap proof: a code to the admin-provisioned address.
      await j.visit(page, 'bootstrap', 'Confirm it is you');
      await expectText(page, /enter the code we sent to n•••@e•••\.com/);
      const bootstrapCode = await mail.mailCode(primary, since);
      await enterCode(page, bootstrapCode === '00000000' ? '11111111' : '00000000');
      await j.visit(page, 'bootstrap-wrong-code', 'Confirm it is you');
      await expectText(page, 'That code is not right. Check it and try again.');
      await expectFocusOnFirstError(page, 'code');
      await enterCode(page, bootstrapCode);

      // Registration is forced: a second factor is required and there is no "Not now".
      await j.visit(page, 'choose-method', 'Set up account recovery');
      await expectText(page, 'Set up 2 of them (0 done).');
      assert.equal(await page.getByRole('button', { name: 'Not now' }).count(), 0, 'no "Not now"');

      await page.getByRole('radio', { name: /^Email/ }).check();
      await page.getByRole('button', { name: 'Continue' }).click();
      await j.visit(page, 'email-address', 'Email');
      since = mail.mark();
      await page.getByLabel('Email address').fill(recovery);
      await page.getByRole('button', { name: 'Continue' }).click();
      await j.visit(page, 'email-code', 'Email');
      await expectText(page, 'We sent a code to n•••@e•••.net.');
      await enterCode(page, await mail.mailCode(recovery, since));

      await j.visit(page, 'choose-method-again', 'Set up account recovery');
      await expectText(page, 'Set up 2 of them (1 done).');
      await page.getByRole('radio', { name: /^Authenticator app/ }).check();
      await page.getByRole('button', { name: 'Continue' }).click();

      await j.visit(page, 'authenticator-app', 'Authenticator app');
      assert.equal(await page.locator('.qr svg').count(), 1, 'a QR code is shown');
      const key = ((await page.locator('code.secret').textContent()) ?? '').replace(/\s+/g, '');
      assert.match(key, /^[A-Z2-7]{16,}$/, 'the key is shown as text');
      await enterCode(page, await totpNow(key));

      const claims = await expectSignedInAtDemo(j, page, login);
      assert.ok((claims.amr as string[]).includes('otp'), 'the authenticator app registered counts as the second factor');
      assert.equal(claims.email, primary);
      assert.equal(claims.email_verified, true, 'the bootstrap code proved the primary address');
      assert.equal(claims.name, 'Nina Example');

      const notice = await mail.mail(primary, { mail: 0 }, /Recovery methods were set up/);
      assert.match(notice.text, /If this was not you/);
    });
  }
});
