/** Signing in at the test relying party and reaching "My security info" with a fresh proof. */
import assert from 'node:assert/strict';
import { Browser, formAction, type Page } from './browser.ts';
import type { RelyingParty } from './rp.ts';
import { codeIn, type ReceivedMail, type TestSmtpServer } from './smtp-server.ts';
import type { TestApp } from './test-app.ts';

export function securityInfoClient(get: () => { t: TestApp; rp: RelyingParty; smtp: TestSmtpServer }, password: string) {
  const mailTo = (to: string, after: number, subject: RegExp): Promise<ReceivedMail> => {
    const { smtp } = get();
    return smtp.waitFor((m) => m.to.includes(to) && subject.test(m.subject) && smtp.messages.indexOf(m) >= after);
  };

  return {
    mailTo,

    /** A real sign-in at the test RP: afterwards the browser holds rekey's session cookie. */
    async signIn(login: string, browser = new Browser(get().t.url)): Promise<Browser> {
      const { t, rp } = get();
      const flow = await rp.start();
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      const done = page.location?.startsWith(t.redirectUri)
        ? page
        : await browser.submit(page, formAction(page.text, '/password'), { identifier: login, password }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), `signed in at the RP: ${done.status} ${done.text.slice(0, 300)}`);
      await rp.finish(flow, done.location!);
      return browser;
    },

    /** Password, then the first email method's code: the management page. */
    async prove(browser: Browser, address: string): Promise<Page> {
      const start = await browser.open('/account/security');
      assert.match(start.text, /Step 1: your password/);
      const pick = await browser.submit(start, '/account/security/password', { password });
      assert.match(pick.text, /Step 2/);
      const before = get().smtp.messages.length;
      const methodId = /name="methodId" id="method-[^"]+" value="([^"]+)"/.exec(pick.text)![1]!;
      const codePage = await browser.submit(pick, '/account/security/verify', { action: 'start', methodId });
      const code = codeIn(await mailTo(address, before, /code/), 8);
      const manage = await browser.submit(codePage, '/account/security/verify', { action: 'finish', code });
      assert.equal(manage.status, 200);
      assert.match(manage.text, /Your methods/);
      return manage;
    },
  };
}
