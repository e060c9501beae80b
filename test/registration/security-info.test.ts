/**
 * The security_info prompt after sign-in: re-confirmation when due (aged by writing
 * timestamps), registration when an existing session's account newly needs it, and no loop.
 */
import assert from 'node:assert/strict';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';

const PASSWORD = 'orchid-signal-ferry-drift';
const DAY = 24 * 3600 * 1000;

for (const backend of BACKENDS) {
  describe(`security_info prompt on ${backend}`, function () {
    this.timeout(60_000);
    let t: TestApp;
    let rp: RelyingParty;

    before(async () => {
      t = await startTestApp(
        {
          SSPR_SCOPE: 'groups',
          SSPR_GROUPS: 'pilot',
          SSPR_METHODS: 'email,authenticator_app,recovery_codes',
          SSPR_RECONFIRM_DAYS: '180',
          SSPR_POSTPONE_LIMIT: '1',
        },
        {},
        backend,
      );
      rp = await RelyingParty.discover(t.url, t.redirectUri);
    });
    after(() => t.close());

    async function signIn(browser: Browser, login: string) {
      const flow = await rp.start();
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      if (page.location?.startsWith(t.redirectUri)) return { flow, page };
      return { flow, page: await browser.submit(page, formAction(page.text, '/password'), { identifier: login, password: PASSWORD }, t.redirectUri) };
    }

    function emailMethod(address: string, confirmedAt: number): MethodRecord {
      return { id: `m-${address}`, kind: 'email', address, registeredAt: confirmedAt, confirmedAt };
    }

    it('asks to re-confirm methods older than the period, shows them masked, and records the confirmation', async () => {
      const { account } = await t.services.accounts.create({ login: 'quinn', email: 'quinn@example.com', password: PASSWORD, groups: ['pilot'] });
      const aged = t.services.clock() - 181 * DAY;
      await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [emailMethod('quinn.home@example.net', aged)] }));

      const browser = new Browser(t.url);
      const { flow, page } = await signIn(browser, 'quinn');
      assert.equal(page.status, 200, page.text.slice(0, 300));
      assert.match(page.text, /Are these still right\?/);
      assert.match(page.text, /Every 180 days/);
      assert.match(page.text, /q•••@e•••\.net/);
      assert.doesNotMatch(page.text, /quinn\.home@example\.net/, 'the address is masked');
      assert.match(page.text, /href="\/account\/security">Change them</, '"change" leads to My security info');

      const done = await browser.submit(page, formAction(page.text, '/reconfirm'), { action: 'confirm' }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), `${done.status} ${done.text.slice(0, 200)}`);
      await rp.finish(flow, done.location!);
      const stored = (await t.services.accounts.get(account.id))!;
      assert.ok((stored.methods as MethodRecord[])[0]!.confirmedAt > aged + 100 * DAY, 'confirmedAt moved to now');
      const events = (await t.services.audit.recent({ limit: 50 })).filter((e) => e.accountId === account.id && e.type === 'method.confirmed');
      assert.equal(events.length, 1);

      // Not asked again: the session goes straight through.
      const again = await signIn(browser, 'quinn');
      assert.ok(again.page.location?.startsWith(t.redirectUri));
    });

    it('an existing session whose account newly comes into scope is sent through bootstrap and registration', async () => {
      const { account } = await t.services.accounts.create({ login: 'rosa', email: 'rosa@example.com', password: PASSWORD, groups: ['staff'] });
      const browser = new Browser(t.url);
      const first = await signIn(browser, 'rosa');
      assert.ok(first.page.location?.startsWith(t.redirectUri), 'out of scope: straight through');

      await t.services.accounts.setGroups(account.id, ['staff', 'pilot']);
      const flow = await rp.start();
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      assert.equal(page.status, 200);
      assert.match(page.text, /Confirm it is you/, 'a first registration needs the bootstrap proof even inside a session');
      const { pass } = await t.services.accessPasses.issue(account.id, 3600_000);
      const chooser = await browser.submit(page, formAction(page.text, '/bootstrap'), { action: 'tap', pass });
      assert.match(chooser.text, /Set up account recovery/);
      const codes = await browser.submit(chooser, formAction(chooser.text, '/register'), { action: 'choose', kind: 'recovery_codes' });
      const done = await browser.submit(codes, formAction(codes.text, '/register'), { action: 'finish', saved: 'yes' }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), `${done.status}`);
      await rp.finish(flow, done.location!);
      assert.equal((await t.services.accounts.get(account.id))!.methods.length, 1);
    });

    it('"Not now" at sign-in holds for that sign-in: the security_info prompt does not ask again at once', async () => {
      const { account } = await t.services.accounts.create({ login: 'sami', email: 'sami@example.com', password: PASSWORD, groups: ['pilot'] });
      await t.services.accounts.update(account.id, (a) => ({ ...a, bootstrapProvenAt: t.services.clock() }));
      const browser = new Browser(t.url);
      const { flow, page } = await signIn(browser, 'sami');
      assert.match(page.text, /Not now/);
      const done = await browser.submit(page, formAction(page.text, '/register'), { action: 'postpone' }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), 'postponing finishes the sign-in without a second prompt');
      await rp.finish(flow, done.location!);
      assert.equal((await t.services.accounts.get(account.id))!.registrationPostponed, 1);

      // The next authorization in that session asks again, now without "Not now" (limit 1).
      const next = await rp.start();
      const asked = await browser.open(next.url.toString(), t.redirectUri);
      assert.match(asked.text, /Set up account recovery/);
      assert.doesNotMatch(asked.text, /Not now/);
    });
  });
}
