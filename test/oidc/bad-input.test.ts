import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';

describe('bad input on the sign-in pages: clear 4xx, nothing changed', () => {
  let t: TestApp;
  let rp: RelyingParty;

  before(async () => {
    t = await startTestApp({ MAX_BODY_BYTES: '4096' });
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    await t.services.accounts.create({ login: 'kim', password: 'bright-marble-stairs-echo' });
  });
  after(() => t.close());

  async function signinPage(): Promise<{ browser: Browser; page: Page; action: string; csrf: string }> {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    return { browser, page, action: new URL(formAction(page.text, '/password'), t.url).pathname, csrf: hiddenValue(page.text, 'csrf') };
  }

  async function failures(): Promise<number> {
    const kim = (await t.services.accounts.findByIdentifier('kim'))!;
    return t.services.accounts.failures(kim.id);
  }

  it('an oversized body gets 413 and a page, and counts no failure', async () => {
    const { browser, action, csrf } = await signinPage();
    const res = await browser.agent.post(action).type('form').send({ csrf, identifier: 'kim', password: 'x'.repeat(10_000) }).redirects(0);
    assert.equal(res.status, 413);
    assert.match(res.text, /The request is too large/);
    assert.equal(await failures(), 0);
  });

  it('missing fields get 400 with a message', async () => {
    const { browser, page } = await signinPage();
    const res = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'kim' });
    assert.equal(res.status, 400);
    assert.match(res.text, /Enter your username or email and your password/);
    assert.equal(await failures(), 0);
  });

  it('arrays or objects where strings belong count as missing, never crash', async () => {
    const { browser, action, csrf } = await signinPage();
    const res = await browser.agent.post(action).type('form').send(`csrf=${csrf}&identifier[a]=kim&password=1&password=2&__proto__[x]=1`).redirects(0);
    assert.equal(res.status, 400);
    assert.match(res.text, /Enter your username or email/);
  });

  it('JSON is accepted in the same shape; other content types get 415', async () => {
    const { browser, action, csrf } = await signinPage();
    const wrongType = await browser.agent.post(action).set('Content-Type', 'text/plain').send('identifier=kim').redirects(0);
    assert.equal(wrongType.status, 415);
    const malformed = await browser.agent.post(action).set('Content-Type', 'application/json').send('{"csrf":').redirects(0);
    assert.equal(malformed.status, 400);
    assert.doesNotMatch(malformed.text, /SyntaxError|at .*:\d+:\d+/);
    const json = await browser.agent.post(action).set('Accept', 'text/html').send({ csrf, identifier: 'kim', password: 'wrong-password-abc' }).redirects(0);
    assert.equal(json.status, 401);
  });

  it('an unknown interaction id and an unknown page get clear 4xx answers', async () => {
    const browser = new Browser(t.url);
    const res = await browser.get('/interaction/not-a-real-uid');
    assert.ok(res.status === 400 || res.status === 404, String(res.status));
    assert.match(res.text, /expired|does not exist/);
    const missing = await browser.get('/no/such/page');
    assert.equal(missing.status, 404);
    assert.match(missing.text, /<title>Page not found – /);
  });

  it('every page carries the security headers', async () => {
    const { browser, page } = await signinPage();
    const res = await browser.agent.get(new URL(page.url).pathname).redirects(0);
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    const flow = await rp.start();
    const auth = await new Browser(t.url).agent.get(flow.url.pathname + flow.url.search).redirects(0);
    const cookies = auth.headers['set-cookie'] as unknown as string[];
    assert.ok(cookies.length >= 1, 'the authorization request sets the interaction cookie');
    for (const c of cookies) assert.match(c, /httponly/i, c);
    for (const c of cookies) assert.match(c, /samesite=lax/i, c);
  });
});
