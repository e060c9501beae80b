/**
 * Sessions end after SESSION_IDLE_SECONDS without use (ASVS 7.3.1); each use at rekey starts
 * the count again, and no session outlives SESSION_TTL_SECONDS from its sign-in.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { sessionTtl } from '../../src/provider/provider.ts';

const PASSWORD = 'lantern-fog-over-the-quay';

describe('session inactivity timeout', function () {
  this.timeout(30_000);
  let t: TestApp;
  let rp: RelyingParty;

  before(async () => {
    t = await startTestApp({ SESSION_IDLE_SECONDS: '600', SESSION_TTL_SECONDS: '3600' });
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(() => t?.close());

  const sessionExp = async (accountId: string): Promise<number> => {
    const [session] = await t.services.store.oidc.listByAccount('Session', accountId);
    assert.ok(session, 'a stored session');
    return Number(session.exp);
  };

  it('a session lives SESSION_IDLE_SECONDS from its last use, and each use extends it', async () => {
    const { account } = await t.services.accounts.create({ login: 'vera', email: 'vera@example.com', password: PASSWORD });
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'vera', password: PASSWORD }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri));
    const now = Math.floor(Date.now() / 1000);
    const first = await sessionExp(account.id);
    assert.ok(Math.abs(first - (now + 600)) <= 3, `expires ${first - now} s from now, not the absolute 3600`);

    await sleep(2100);
    const again = await browser.open((await rp.start()).url.toString(), t.redirectUri);
    assert.ok(again.location?.startsWith(t.redirectUri), 'the session signs in silently while it lives');
    const second = await sessionExp(account.id);
    assert.ok(second >= first + 2, `a use extends it (${first} → ${second})`);
  });

  it('the idle extension never passes the absolute lifetime from the sign-in', () => {
    const config = { SESSION_IDLE_SECONDS: 600, SESSION_TTL_SECONDS: 3600 };
    const now = 1_800_000_000;
    assert.equal(sessionTtl(config, undefined, now), 600);
    assert.equal(sessionTtl(config, now - 100, now), 600);
    assert.equal(sessionTtl(config, now - 3500, now), 100, 'only what is left of the absolute lifetime');
    assert.equal(sessionTtl(config, now - 4000, now), 1, 'an expired sign-in gets no more time');
    assert.equal(sessionTtl({ SESSION_IDLE_SECONDS: 7200, SESSION_TTL_SECONDS: 3600 }, undefined, now), 3600, 'idle is capped by the absolute lifetime');
  });
});
