import assert from 'node:assert/strict';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';

const PASSWORD = 'steady-copper-kettle-hums';

for (const backend of BACKENDS) describe(`sign-in lockout and throttling on ${backend}`, () => {
  let t: TestApp;
  let rp: RelyingParty;
  let now = Date.now();

  before(async () => {
    t = await startTestApp(
      { SIGNIN_LOCKOUT_THRESHOLD: '3', SIGNIN_LOCKOUT_SECONDS: '60', SIGNIN_MAX_CONSECUTIVE_FAILURES: '10', SIGNIN_IP_MAX_FAILURES: '8', TRUST_PROXY_HOPS: '1' },
      { clock: () => now },
      backend,
    );
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    await t.services.accounts.create({ login: 'ivan', email: 'ivan@example.com', password: PASSWORD });
  });
  after(() => t.close());

  let ipCounter = 0;
  /** Each attempt from its own proxy-reported IP, so the per-IP throttle stays out of the way. */
  async function attempt(identifier: string, password: string, ip = `198.51.100.${(ipCounter += 1)}`) {
    const browser = new Browser(t.url, { 'X-Forwarded-For': ip });
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    return browser.submit(page, formAction(page.text, '/password'), { identifier, password }, t.redirectUri);
  }

  it('locks an account after the threshold, even for the right password, and opens again after the lock', async () => {
    for (let i = 0; i < 3; i += 1) assert.equal((await attempt('ivan', 'wrong-guess-number-x')).status, 401);
    const locked = await attempt('ivan', PASSWORD);
    assert.equal(locked.status, 429);
    assert.match(locked.text, /Too many failed attempts\. Try again in 1 minute\./);
    now += 61_000;
    const ok = await attempt('ivan', PASSWORD);
    assert.ok(ok.location?.startsWith(t.redirectUri), 'signs in once the lock is over');
  });

  it('locks an unknown identifier at the same count, with the same page', async () => {
    const real: string[] = [];
    const fake: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const a = await attempt('ivan', 'wrong-guess-number-y');
      const b = await attempt('no-such-user', 'wrong-guess-number-y');
      assert.equal(a.status, b.status, `attempt ${i + 1}: ${a.status} vs ${b.status}`);
      real.push(a.text.replace(/\/interaction\/[^/"]+|value="[^"]*"/g, ''));
      fake.push(b.text.replace(/\/interaction\/[^/"]+|value="[^"]*"/g, ''));
    }
    assert.deepEqual(fake, real);
    assert.match(real[3]!, /Too many failed attempts/);
  });

  it('doubles the lock at every threshold and locks for good at the hard limit until an admin unlocks', async () => {
    const { account } = await t.services.accounts.create({ login: 'judy', password: PASSWORD });
    await t.services.accounts.unlock(account.id);
    let failures = 0;
    const lockSeconds: number[] = [];
    while (failures < 10) {
      const res = await attempt('judy', 'wrong-guess-number-z');
      if (res.status === 429) {
        const state = await t.services.accounts.lockState(account.id);
        if (state.locked && !state.hard) lockSeconds.push(state.retryAfterSeconds!);
        now += 3_600_000;
        continue;
      }
      failures += 1;
    }
    assert.deepEqual(lockSeconds.slice(0, 3), [60, 120, 240]);
    const hard = await attempt('judy', PASSWORD);
    assert.equal(hard.status, 429);
    assert.match(hard.text, /locked after too many failed attempts\. Contact your helpdesk/);
    now += 30 * 24 * 3_600_000;
    assert.equal((await attempt('judy', PASSWORD)).status, 429, 'a hard lock does not expire by itself');
    await t.services.accounts.unlock(account.id);
    assert.ok((await attempt('judy', PASSWORD)).location?.startsWith(t.redirectUri));
  });

  it('throttles one client IP across identifiers; a forged X-Forwarded-For entry does not dodge it', async () => {
    now += 3_600_000;
    const ip = '203.0.113.77';
    for (let i = 0; i < 8; i += 1) {
      // The forged left-most entry changes every time; only the proxy-appended one counts.
      const res = await attempt(`someone-${i}`, 'wrong-guess-number-w', `10.9.${i}.1, ${ip}`);
      assert.equal(res.status, 401, `failure ${i + 1}`);
    }
    const throttled = await attempt('ivan', PASSWORD, `10.10.10.10, ${ip}`);
    assert.equal(throttled.status, 429);
    assert.match(throttled.text, /Too many failed attempts from your network/);
    const other = await attempt('ivan', PASSWORD, '203.0.113.78');
    assert.ok(other.location?.startsWith(t.redirectUri), 'another IP is not throttled');
  });
});
