/**
 * What the browser journeys share: the app as a user meets it (the demo relying party at `/`,
 * two-factor for everyone, registration at sign-in, a real SMTP server and the Twilio-shaped
 * SMS gateway), seeded users, and the steps a user takes on the pages. Codes are read from
 * the mail and the text messages, never from the store.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { generateSecret } from 'otplib';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { codeIn, startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, TEST_TWILIO, twilioEnv, type SmsGateway } from '../support/sms-gateway.ts';
import type { Journey, ViewportName } from '../support/chromium.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';

export const PASSWORD = 'amber-willow-drifts-slowly';
export const NEW_PASSWORD = 'copper-heron-wades-at-dusk';
export const DAY = 24 * 3600 * 1000;
export const VARIANTS: ViewportName[] = ['desktop', 'phone'];
/** Per journey: a real browser, argon2 and a dozen pages each checked by axe (slower on a busy CI machine). */
export const JOURNEY_TIMEOUT = 90_000;

export interface JourneyApp {
  t: TestApp;
  smtp: TestSmtpServer;
  gateway: SmsGateway;
  close(): Promise<void>;
}

/** The app with the demo relying party, everyone in SSPR scope (2 methods, 2 proofs at reset) and two-factor for all. */
export async function startJourneyApp(): Promise<JourneyApp> {
  const smtp = await startSmtpServer();
  const gateway = await startSmsGateway({ accountSid: TEST_TWILIO.accountSid, authToken: TEST_TWILIO.authToken, webhookSecret: 'w'.repeat(32) });
  let t: TestApp;
  try {
    t = await startTestApp({
      DEMO: 'true',
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,mobile_phone,authenticator_app,recovery_codes',
      SSPR_METHODS_REQUIRED: '2',
      SSPR_PROOFS_REQUIRED: '2',
      SSPR_RECONFIRM_DAYS: '180',
      TWO_FACTOR: 'all',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      ...twilioEnv(gateway),
    });
  } catch (e) {
    await smtp.stop();
    await gateway.stop();
    throw e;
  }
  return {
    t,
    smtp,
    gateway,
    async close() {
      await t.close();
      await smtp.stop();
      await gateway.stop();
    },
  };
}

/** Mocha hooks: the journey app for a test file, started before its tests and closed after them. */
export function useJourneyApp(): JourneyApp {
  let app: JourneyApp | undefined;
  before(async () => {
    app = await startJourneyApp();
  });
  after(async () => {
    await app?.close();
    app = undefined;
  });
  const get = (): JourneyApp => {
    if (!app) throw new Error('the journey app starts in the before() hook');
    return app;
  };
  return {
    get t() {
      return get().t;
    },
    get smtp() {
      return get().smtp;
    },
    get gateway() {
      return get().gateway;
    },
    close: () => get().close(),
  };
}

export interface SeededUser {
  id: string;
  login: string;
  email: string;
  privateEmail: string;
  phone?: string;
  totp: string;
}

/**
 * An account that registered an email address and an authenticator app (and a mobile phone
 * when given), written into the store; `confirmedDaysAgo` ages the registration.
 */
export async function seedUser(t: TestApp, login: string, opts: { phone?: string; confirmedDaysAgo?: number; name?: string } = {}): Promise<SeededUser> {
  const email = `${login}@example.com`;
  const privateEmail = `${login}.private@example.org`;
  const { account } = await t.services.accounts.create({ login, email, name: opts.name ?? `User ${login}`, password: PASSWORD });
  const totp = generateSecret();
  const at = t.services.clock() - (opts.confirmedDaysAgo ?? 0) * DAY;
  const methods: MethodRecord[] = [
    { id: `e-${login}`, kind: 'email', address: privateEmail, registeredAt: at, confirmedAt: at },
    { id: `t-${login}`, kind: 'authenticator_app', secret: t.services.box.seal(totp), lastStep: 0, registeredAt: at, confirmedAt: at },
    ...(opts.phone ? [{ id: `p-${login}`, kind: 'mobile_phone', e164: opts.phone, country: 'PL', registeredAt: at, confirmedAt: at } as MethodRecord] : []),
  ];
  await t.services.accounts.update(account.id, (a) => ({ ...a, methods, bootstrapProvenAt: at }));
  return { id: account.id, login, email, privateEmail, ...(opts.phone ? { phone: opts.phone } : {}), totp };
}

/** Marks where "new" mail and texts start, so a step reads the code it caused. */
export function inbox(app: JourneyApp) {
  return {
    mark: () => ({ mail: app.smtp.messages.length, sms: app.gateway.received.length }),
    async mail(to: string, since: { mail: number }, subject: RegExp = /code/): Promise<ReceivedMail> {
      return app.smtp.waitFor((m) => m.to.includes(to) && subject.test(m.subject) && app.smtp.messages.indexOf(m) >= since.mail);
    },
    async mailCode(to: string, since: { mail: number }): Promise<string> {
      return codeIn(await this.mail(to, since), 8);
    },
    async smsCode(to: string, since: { sms: number }): Promise<string> {
      const sms = await app.gateway.waitFor((m) => m.to === to && app.gateway.received.indexOf(m) >= since.sms);
      return digitsIn(sms.text, 6);
    },
  };
}

/** The real clock's code, made with a few seconds of its 30-second step left (test/support/totp.ts). */
export { totpNow } from '../support/totp.ts';

/** The ID token claims the demo app shows, parsed from its table. */
export async function demoClaims(page: Page): Promise<Record<string, unknown>> {
  const rows = await page.getByRole('row').evaluateAll((trs) =>
    trs.map((tr) => [tr.querySelector('th')?.textContent ?? '', tr.querySelector('td')?.textContent ?? ''] as const),
  );
  return Object.fromEntries(rows.map(([k, v]) => [k.trim(), JSON.parse(v)]));
}

/** The demo app's home page, signed out: "Sign in with rekey" leads to rekey's sign-in page. `prefix` names the steps of a second browser. */
export async function openDemoSignIn(j: Journey, page: Page, url: string, prefix = ''): Promise<void> {
  j.follow(page);
  await page.goto(`${url}/`);
  await j.visit(page, `${prefix}demo-app`, 'Demo app');
  await page.getByRole('link', { name: 'Sign in with rekey' }).click();
  await j.visit(page, `${prefix}sign-in`, 'Sign in');
  await expectText(page, 'Sign in to continue to rekey demo app.');
}

/** Fills the sign-in form and submits it. */
export async function submitPassword(page: Page, login: string, password: string): Promise<void> {
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** The second-factor chooser: picks the method whose label matches, then "Continue". */
export async function chooseMethod(page: Page, name: RegExp): Promise<void> {
  await page.getByRole('radio', { name }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
}

/** Types a code into the "Code" field and submits its form with Enter. */
export async function enterCode(page: Page, code: string): Promise<void> {
  const field = page.getByLabel('Code', { exact: true });
  await field.fill(code);
  await field.press('Enter');
}

/** The demo app after sign-in: its heading, the user, and a second factor in `amr`. */
export async function expectSignedInAtDemo(j: Journey, page: Page, login: string, step = 'demo-app-signed-in'): Promise<Record<string, unknown>> {
  await j.visit(page, step, 'Demo app: signed in');
  assert.equal(new URL(page.url()).pathname, '/');
  const claims = await demoClaims(page);
  assert.equal(claims.preferred_username, login);
  const amr = claims.amr as string[];
  assert.ok(Array.isArray(amr) && amr.includes('pwd') && amr.includes('mfa'), `amr ${JSON.stringify(amr)} has pwd and mfa`);
  assert.equal(claims.acr, 'urn:rekey:acr:mfa');
  return claims;
}

/** The page shows this text somewhere (visible). */
export async function expectText(page: Page, text: string | RegExp): Promise<void> {
  await page.getByText(text).first().waitFor({ state: 'visible' });
}

/** `document.activeElement.id`. */
export const focusedId = (page: Page): Promise<string> => page.evaluate(() => document.activeElement?.id ?? '');

/** After a wrong submit the focus is on the first field marked invalid, if any is; else on `fallback`. */
export async function expectFocusOnFirstError(page: Page, fallback: string): Promise<void> {
  const firstInvalid = await page.evaluate(() => document.querySelector('[aria-invalid="true"]')?.id ?? '');
  assert.equal(await focusedId(page), firstInvalid || fallback, 'focus lands on the first field to fix');
}
