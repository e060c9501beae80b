import assert from 'node:assert/strict';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';

const PASSWORD = 'quiet-harbour-lights-glow';

for (const backend of BACKENDS) describe(`OIDC sign-in end to end (openid-client, authorization code + PKCE) on ${backend}`, () => {
  let t: TestApp;
  let rp: RelyingParty;

  before(async () => {
    t = await startTestApp({}, {}, backend);
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    await t.services.accounts.create({ login: 'ada', email: 'Ada@Example.com', name: 'Ada Lovelace', groups: ['staff'], password: PASSWORD });
  });
  after(() => t.close());

  async function signIn(browser: Browser, identifier: string, password: string, params: Record<string, string> = {}) {
    const flow = await rp.start(params);
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /Sign in to continue to Test App/);
    const done = await browser.submit(page, formAction(page.text, '/password'), { identifier, password }, t.redirectUri);
    return { flow, done };
  }

  it('signs in through the real pages, issues tokens, userinfo and refresh, and a sign-out everywhere kills them all', async () => {
    const browser = new Browser(t.url);
    const { flow, done } = await signIn(browser, 'ADA', PASSWORD);
    assert.ok(done.location?.startsWith(t.redirectUri), `expected a redirect to the RP, got ${done.status} ${done.location}\n${done.text.slice(0, 500)}`);
    const tokens = await rp.finish(flow, done.location!);
    const claims = tokens.claims()!;
    const account = (await t.services.accounts.findByIdentifier('ada'))!;
    assert.equal(claims.sub, account.id);
    assert.equal(claims.email, 'ada@example.com');
    assert.equal(claims.email_verified, false);
    assert.equal(claims.name, 'Ada Lovelace');
    assert.deepEqual(claims.groups, ['staff']);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.ok(tokens.refresh_token, 'a first-party client with the refresh_token grant gets a refresh token');

    const info = await rp.userinfo(tokens.access_token, account.id);
    assert.equal(info.email, 'ada@example.com');
    const refreshed = await rp.refresh(tokens.refresh_token!);
    assert.ok(refreshed.access_token);

    // The session signs in silently while it lives.
    const again = await rp.start();
    const silent = await browser.open(again.url.toString(), t.redirectUri);
    assert.ok(silent.location?.startsWith(t.redirectUri), 'an existing session signs in without a page');
    assert.ok(await t.services.store.oidc.countByAccount('Session', account.id) >= 1);

    await t.services.accounts.signOutEverywhere(account.id);

    await assert.rejects(rp.refresh(refreshed.refresh_token ?? tokens.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
    await assert.rejects(rp.userinfo(refreshed.access_token, account.id), (e: { status?: number; cause?: unknown }) => e.status === 401 || /invalid_token/.test(String(JSON.stringify(e.cause))));
    const after = await rp.start();
    const page = await browser.open(after.url.toString(), t.redirectUri);
    assert.equal(page.status, 200, 'the old session cookie no longer signs in silently');
    assert.match(page.text, /<h1>Sign in<\/h1>/);
    assert.equal(await t.services.store.oidc.countByAccount('Session', account.id), 0);
  });

  it('signs in with the email address too, and rotates the session id at sign-in (no fixation)', async () => {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const first = await browser.open(flow.url.toString(), t.redirectUri);
    const before = await browser.agent.jar.getCookie('_session', { domain: '127.0.0.1', path: '/', secure: false, script: false });
    const done = await browser.submit(first, formAction(first.text, '/password'), { identifier: 'ada@example.com', password: PASSWORD }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri));
    const afterCookie = await browser.agent.jar.getCookie('_session', { domain: '127.0.0.1', path: '/', secure: false, script: false });
    assert.ok(afterCookie, 'a session cookie is set');
    assert.notEqual(before?.value, afterCookie.value);
  });

  it('gives one generic message for a wrong password, an unknown user and a disabled user', async () => {
    await t.services.accounts.create({ login: 'dora', email: 'dora@example.com', password: PASSWORD });
    const dora = (await t.services.accounts.findByIdentifier('dora'))!;
    await t.services.accounts.setStatus(dora.id, 'disabled');
    const bodies: string[] = [];
    for (const [identifier, password] of [['ada', 'wrong-password-here-123'], ['nobody-here', PASSWORD], ['dora', PASSWORD]] as const) {
      const browser = new Browser(t.url);
      const { done } = await signIn(browser, identifier, password);
      assert.equal(done.status, 401, `${identifier}: ${done.status}`);
      assert.match(done.text, /The username or password is incorrect, or the account cannot sign in\./);
      assert.match(done.text, /<title>Error: Sign in – /, 'the title says the page came back with an error');
      bodies.push(done.text.replace(/value="[^"]*"/g, '').replace(/\/interaction\/[^/"]+/g, ''));
    }
    assert.equal(bodies[1], bodies[0], 'the unknown-user page equals the wrong-password page');
    assert.equal(bodies[2], bodies[0], 'the disabled-user page equals the wrong-password page');
  });

  it('consent: a third-party client asks, "Allow" issues tokens, "Deny" returns access_denied', async () => {
    const third = await RelyingParty.discover(t.url, t.redirectUri, 'third-party', 'test-rp-secret-that-is-long-enough-0123456789-3p');
    const browser = new Browser(t.url);
    const flow = await third.start({ scope: 'openid email' });
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    const consent = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'ada', password: PASSWORD }, t.redirectUri);
    assert.equal(consent.status, 200);
    assert.match(consent.text, /Third Party App asks to:/);
    assert.match(consent.text, /see your email address/);
    const done = await browser.submit(consent, formAction(consent.text, '/consent'), {}, t.redirectUri);
    const tokens = await third.finish(flow, done.location!);
    assert.equal(tokens.claims()!.email, 'ada@example.com');

    const b2 = new Browser(t.url);
    const f2 = await third.start({ scope: 'openid email' });
    const p2 = await b2.open(f2.url.toString(), t.redirectUri);
    const c2 = await b2.submit(p2, formAction(p2.text, '/password'), { identifier: 'ada', password: PASSWORD }, t.redirectUri);
    const denied = await b2.submit(c2, formAction(c2.text, '/abort'), {}, t.redirectUri);
    assert.match(denied.location!, /error=access_denied/);
  });

  it('cancel on the sign-in page returns access_denied to the client', async () => {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    const done = await browser.submit(page, formAction(page.text, '/abort'), {}, t.redirectUri);
    assert.match(done.location!, /error=access_denied/);
  });

  it('refuses a form without the CSRF token and a stage that is not due, changing nothing', async () => {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page: Page = await browser.open(flow.url.toString(), t.redirectUri);
    const action = new URL(formAction(page.text, '/password'), t.url).toString();
    const forged = await browser.post(action, { identifier: 'ada', password: PASSWORD, csrf: 'forged' });
    assert.equal(forged.status, 403);
    assert.match(forged.text, /The form expired or was sent from elsewhere/);
    const skip = await browser.post(action.replace('/password', '/new-password'), { csrf: /name="csrf" value="([^"]+)"/.exec(page.text)![1]!, password: 'x', confirm: 'x' });
    assert.equal(skip.status, 303, 'a stage that is not due only sends the user back');
    assert.match(skip.location!, /\/interaction\/[^/]+$/);
  });

  it('one request of an interaction at a time: a POST meanwhile gets 409 and changes nothing, a page still shows, a GET that must act waits', async () => {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page: Page = await browser.open(flow.url.toString(), t.redirectUri);
    const action = formAction(page.text, '/password');
    const uid = /\/interaction\/([^/]+)\/password/.exec(action)![1]!;
    const lock = `interaction-lock:{${uid}}`;
    const stateKey = `interaction-state:{${uid}}`;
    const { ephemeral } = t.services.store;
    const audited = async (type: string): Promise<number> => (await t.services.audit.recent({ limit: 200 })).filter((e) => e.type === type && e.details?.client !== undefined && e.at >= since).length;
    const since = t.services.clock();

    assert.ok(await ephemeral.acquireLease(lock, 'another-request', t.services.clock() + 5_000));
    const busy = await browser.submit(page, action, { identifier: 'ada', password: PASSWORD }, t.redirectUri);
    assert.equal(busy.status, 409, busy.text.slice(0, 300));
    assert.equal(await ephemeral.get(stateKey), undefined, 'no state written');
    assert.equal(await audited('signin.password'), 0, 'nothing audited');
    assert.equal((await browser.get(page.url)).status, 200, 'the page shows without the lock');
    await ephemeral.releaseLease(lock, 'another-request');

    // A GET that must act (here: finish a sign-in whose stages are done) waits for the holder.
    const account = (await t.services.accounts.findByIdentifier('ada'))!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
    await ephemeral.put(stateKey, { csrf, accountId: account.id, passed: ['password'], amr: ['pwd'], expiresAt: t.services.clock() + 600_000 }, t.services.clock() + 600_000);
    assert.ok(await ephemeral.acquireLease(lock, 'another-request', t.services.clock() + 5_000));
    setTimeout(() => void ephemeral.releaseLease(lock, 'another-request'), 300);
    const finished = await browser.get(page.url);
    assert.equal(finished.status, 303, finished.text.slice(0, 300));
    const done = await browser.follow(finished, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri), `expected the RP, got ${done.status} ${done.location}`);
    assert.equal(await audited('signin.completed'), 1, 'the completion is audited once');
    assert.equal(await ephemeral.get(lock), undefined, 'the lock is released');
  });

  it('an interaction page without its cookie (another browser) gets a clear 400 page', async () => {
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    const other = new Browser(t.url);
    const res = await other.get(page.url);
    assert.equal(res.status, 400);
    assert.match(res.text, /This sign-in has expired/);
    assert.doesNotMatch(res.text, /at .*\.ts:\d+/);
  });

  it('RP-initiated logout shows rekey\'s own page and ends the session', async () => {
    const browser = new Browser(t.url);
    const { flow, done } = await signIn(browser, 'ada', PASSWORD);
    const tokens = await rp.finish(flow, done.location!);
    const endUrl = `/session/end?id_token_hint=${tokens.id_token}&post_logout_redirect_uri=${encodeURIComponent(`${t.url}/test-rp/logged-out`)}`;
    const confirm = await browser.open(endUrl);
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /Do you want to sign out of rekey\?/);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.text)![1]!;
    const out = await browser.post('/session/end/confirm', { xsrf, logout: 'yes' });
    assert.equal(out.status, 303);
    assert.ok(out.location!.startsWith(`${t.url}/test-rp/logged-out`));
    const again = await rp.start();
    const page = await browser.open(again.url.toString(), t.redirectUri);
    assert.match(page.text, /<h1>Sign in<\/h1>/);
  });
});
