/**
 * In Chromium with its virtual authenticator (CDP WebAuthn domain, a CTAP2 USB key that
 * verifies the user): an account without methods registers a security key at sign-in through
 * /assets/webauthn.js, then signs in again with the key as the second factor. Every page is
 * checked by axe. ISSUER is http://localhost (a secure context, and a valid WebAuthn rp id).
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { Journey, useChromium } from '../support/chromium.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { methodsOf } from '../../src/domain/policy.ts';
import { chooseMethod, expectSignedInAtDemo, expectText, JOURNEY_TIMEOUT, openDemoSignIn, PASSWORD, submitPassword } from './steps.ts';

describe('browser: security key (WebAuthn)', function () {
  this.timeout(JOURNEY_TIMEOUT);
  const chrome = useChromium();
  let t: TestApp;

  /** From the demo app to the security key's registration page of a first sign-in. */
  async function chooseSecurityKeyAtRegistration(j: Journey, page: Page, login: string): Promise<void> {
    await openDemoSignIn(j, page, t.url);
    await submitPassword(page, login, PASSWORD);
    await j.visit(page, 'register-choose', 'Set up account recovery');
    await page.getByRole('radio', { name: /Security key/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await j.visit(page, 'register-security-key', 'Security key');
  }

  before(async () => {
    t = await startTestApp(
      { DEMO: 'true', SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes,security_key', SSPR_METHODS_REQUIRED: '1', TWO_FACTOR: 'all' },
      {},
      'sqlite',
      () => [],
      'localhost',
    );
  });
  after(async () => {
    await t?.close();
  });

  it('registers a security key at sign-in, then signs in with it as the second factor (amr hwk)', async () => {
    const login = 'kira-key';
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, name: 'Kira Key', password: PASSWORD });
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [], bootstrapProvenAt: t.services.clock() }));

    const j = new Journey('security-key');
    const page = await chrome.newUser('desktop');
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });

    // Registration at sign-in.
    await chooseSecurityKeyAtRegistration(j, page, login);
    await page.getByLabel('Name for this key (optional)').fill('Desk key');
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.getByRole('button', { name: 'Register security key' }).click()]);
    const first = await expectSignedInAtDemo(j, page, login, 'demo-app-registered');
    assert.ok((first.amr as string[]).includes('hwk'), `amr ${JSON.stringify(first.amr)}`);
    const key = methodsOf((await t.services.accounts.get(account.id))!).find((m) => m.kind === 'security_key');
    assert.ok(key && key.kind === 'security_key' && key.label === 'Desk key', 'the key is stored under its name');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]!.rpId, 'localhost');

    // Signed out (cookies gone), then in again: the key is the second factor.
    await page.context().clearCookies();
    await openDemoSignIn(j, page, t.url, 'again-');
    await submitPassword(page, login, PASSWORD);
    await j.visit(page, 'second-factor', 'Confirm it is you');
    await chooseMethod(page, /Security key/);
    await j.visit(page, 'second-factor-security-key', 'Security key');
    await expectText(page, 'Use your security key: insert or tap it when your browser asks.');
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.getByRole('button', { name: 'Use security key' }).click()]);
    const second = await expectSignedInAtDemo(j, page, login, 'demo-app-second-factor');
    assert.ok((second.amr as string[]).includes('hwk'), `amr ${JSON.stringify(second.amr)}`);
    const after = methodsOf((await t.services.accounts.get(account.id))!).find((m) => m.kind === 'security_key');
    assert.ok(after?.lastUsedAt, 'the use is recorded');
  });

  it('JavaScript disabled: the security key page says it needs JavaScript, shows no button, and "Choose another method" offers the others', async () => {
    const login = 'noah-nojs';
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, name: 'Noah NoJS', password: PASSWORD });
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [], bootstrapProvenAt: t.services.clock() }));
    const j = new Journey('security-key-no-js');
    const page = await chrome.newUser('desktop', { javaScriptEnabled: false });
    await chooseSecurityKeyAtRegistration(j, page, login);
    // Shown as <noscript> content (Playwright's text locators skip <noscript>; the screenshot shows it).
    assert.match(await page.content(), /<noscript><p class="alert" role="note">A security key needs JavaScript, which is off in this browser\. Go back and choose another method\.<\/p><\/noscript>/);
    assert.equal(await page.getByRole('button', { name: 'Register security key' }).count(), 0, 'no button that could do nothing');
    await page.getByRole('button', { name: 'Choose another method' }).click();
    await j.visit(page, 'register-choose-again', 'Set up account recovery');
    assert.ok(await page.getByRole('radio', { name: /Authenticator app/ }).isVisible(), 'the other methods are offered');
  });
});
