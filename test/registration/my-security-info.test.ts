/**
 * "My security info" (/account/security) through real HTTP: a session from a real sign-in
 * (openid-client at the test RP, or the internal rekey-account client), the recent proof
 * (password, then a registered method with the code from a real SMTP server), adding,
 * removing and regenerating methods with notices, CSRF, proof expiry on an injected clock, and
 * proofs that stay with their own session.
 */
import assert from 'node:assert/strict';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import type { MethodContext, MethodRecord, RecoveryCodesMethod } from '../../src/domain/methods/types.ts';
import type { AccountRecord } from '../../src/store/types.ts';
import { securityInfoClient } from '../support/security-info-client.ts';
import { backchannelClient, startReceiver, type Receiver } from '../support/backchannel-receiver.ts';

const PASSWORD = 'copper-meadow-sings-softly';
const MINUTE = 60_000;
const BCL_SECRET = 'backchannel-rp-secret-that-is-long-enough-0123';

for (const backend of BACKENDS) describe(`My security info at /account/security on ${backend}`, function () {
  this.timeout(60_000);
  let t: TestApp;
  let rp: RelyingParty;
  let bcl: RelyingParty;
  let receiver: Receiver;
  let smtp: TestSmtpServer;
  let offset = 0;
  const clock = (): number => Date.now() + offset;

  before(async () => {
    smtp = await startSmtpServer();
    receiver = await startReceiver(200);
    t = await startTestApp(
      { SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes', SSPR_METHODS_REQUIRED: '1', SMTP_URL: smtp.url, DEV_OUTBOX: 'false' },
      { clock },
      backend,
      (url) => [backchannelClient(url, { id: 'bcl-rp', secret: BCL_SECRET, name: 'Back-channel App', logoutUri: receiver.url })],
    );
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    bcl = await RelyingParty.discover(t.url, t.redirectUri, 'bcl-rp', BCL_SECRET);
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
    await receiver?.close();
  });

  /** An account with one registered email method (not the primary address), so sign-in asks for no registration. */
  async function seed(login: string): Promise<{ account: AccountRecord; address: string }> {
    const address = `${login}.home@example.net`;
    const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD });
    const now = t.services.clock();
    const method: MethodRecord = { id: `m-${login}`, kind: 'email', address, registeredAt: now, confirmedAt: now };
    return { account: await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [method] })), address };
  }

  async function methodsOf(id: string): Promise<MethodRecord[]> {
    return (await t.services.accounts.get(id))!.methods as MethodRecord[];
  }

  const { signIn, mailTo, prove } = securityInfoClient(() => ({ t, rp, smtp }), PASSWORD);

  function recoveryContext(account: AccountRecord): MethodContext {
    return { accountId: account.id, login: account.login, admin: false, clock: t.services.clock, ip: '127.0.0.1', purpose: 'test' };
  }

  it('asks for the password (failures count), then a method; manages methods with notices; regenerated codes replace the old ones', async () => {
    const { account, address } = await seed('ana');
    const browser = await signIn('ana');

    // Step 1: the password. A wrong one is an error tied to the field and counts toward lockout.
    const res = await browser.agent.get('/account/security').redirects(0);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const start: Page = { status: res.status, url: `${t.url}/account/security`, text: res.text };
    assert.match(start.text, /Step 1: your password/);
    assert.match(start.text, /autocomplete="current-password"/);
    assert.match(start.text, /autocomplete="username" value="ana"/);
    const wrong = await browser.submit(start, '/account/security/password', { password: 'not-the-password-at-all' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /The password is not right/);
    assert.match(wrong.text, /aria-describedby="password-error"/);
    assert.match(wrong.text, /id="password-error">The password is not right/);
    assert.match(wrong.text, /<div class="alert" role="alert">[\s\S]*<a href="#password">The password is not right/);
    assert.equal(await t.services.accounts.failures(account.id), 1, 'a wrong password counts as a failed sign-in');

    // Step 2: one registered method, shown masked; the code goes to that address.
    const pick = await browser.submit(wrong, '/account/security/password', { password: PASSWORD });
    assert.equal(pick.status, 200);
    assert.equal(await t.services.accounts.failures(account.id), 0);
    assert.match(pick.text, /a•••@e•••\.net/);
    assert.doesNotMatch(pick.text, /ana\.home@example\.net/);
    const before = smtp.messages.length;
    const codePage = await browser.submit(pick, '/account/security/verify', { action: 'start', methodId: 'm-ana' });
    assert.match(codePage.text, /We sent a code to a•••@e•••\.net/);
    assert.match(codePage.text, /autocomplete="one-time-code"/);
    const code = codeIn(await mailTo(address, before, /code/), 8);
    const badCode = await browser.submit(codePage, '/account/security/verify', { action: 'finish', code: code === '00000000' ? '11111111' : '00000000' });
    assert.equal(badCode.status, 400);
    assert.match(badCode.text, /That code is not right/);
    const manage = await browser.submit(badCode, '/account/security/verify', { action: 'finish', code });
    assert.equal(manage.status, 200, manage.text.slice(0, 400));
    assert.match(manage.text, /Your methods/);
    assert.match(manage.text, /Email<\/strong>: a•••@e•••\.net/);
    assert.doesNotMatch(manage.text, /ana\.home@example\.net/, 'addresses are masked');

    // Add recovery codes: the same chooser and proof pages as at sign-in; codes shown once with a "saved" confirmation.
    const chooser = await browser.submit(manage, formAction(manage.text, '/account/security/add'), { action: 'open' });
    assert.match(chooser.text, /id="kind-recovery_codes"/);
    assert.doesNotMatch(chooser.text, /id="kind-email"/, 'a registered kind is not offered again');
    const codesPage = await browser.submit(chooser, '/account/security/add', { action: 'choose', kind: 'recovery_codes' });
    const oldCodes = [...codesPage.text.matchAll(/<li><code>([0-9a-z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    assert.equal(oldCodes.length, 10);
    const unsaved = await browser.submit(codesPage, '/account/security/add', { action: 'finish' });
    assert.equal(unsaved.status, 400);
    assert.match(unsaved.text, /Confirm that you saved the codes/);
    const beforeAdd = smtp.messages.length;
    const added = await browser.submit(unsaved, '/account/security/add', { action: 'finish', saved: 'yes' });
    assert.equal(added.status, 200);
    assert.match(added.text, /Added: Recovery codes\. We emailed you about the change/);
    assert.match(added.text, /Recovery codes<\/strong>: 10 left/);
    const addNotice = await mailTo('ana@example.com', beforeAdd, /security info was changed/);
    assert.match(addNotice.subject, /^Your rekey security info was changed$/);
    assert.match(addNotice.text, /Recovery method added: Recovery codes/);
    assert.match(addNotice.text, /from IP address 127\.0\.0\.1/);
    assert.match(addNotice.text, /Not you\? Reset your password/);
    await mailTo(address, beforeAdd, /security info was changed/);
    for (const c of oldCodes) assert.ok(!addNotice.text.includes(c), 'no code in the notice');
    let stored = await methodsOf(account.id);
    assert.deepEqual(stored.map((m) => m.kind), ['email', 'recovery_codes']);
    const now = t.services.clock();
    assert.ok(stored.every((m) => now - m.confirmedAt < MINUTE), 'every method is marked confirmed');

    // Remove the email method: allowed (recovery codes remain); the removed address and the primary are told.
    const beforeRemove = smtp.messages.length;
    const removed = await browser.submit(added, '/account/security/remove', { methodId: 'm-ana' });
    assert.equal(removed.status, 200);
    assert.match(removed.text, /Removed: Email\./);
    assert.deepEqual((await methodsOf(account.id)).map((m) => m.kind), ['recovery_codes']);
    const toRemoved = await mailTo(address, beforeRemove, /security info was changed/);
    assert.match(toRemoved.text, /Recovery method removed: Email \(a•••@e•••\.net\)/);
    const toPrimary = await mailTo('ana@example.com', beforeRemove, /security info was changed/);
    assert.match(toPrimary.text, /Recovery method removed/);
    const events = (await t.services.audit.recent({ limit: 100 })).filter((e) => e.accountId === account.id);
    const removal = events.find((e) => e.type === 'method.removed' && e.outcome === 'success')!;
    assert.equal(removal.actor, 'self');
    assert.equal(removal.ip, '127.0.0.1');
    assert.equal(typeof removal.userAgent, 'string');
    assert.ok(events.some((e) => e.type === 'method.registered' && e.actor === 'self' && e.details?.kind === 'recovery_codes'));

    // The last method cannot go: refused with a clear message, nothing changed.
    const codesId = (await methodsOf(account.id))[0]!.id;
    const mailsBefore = smtp.messages.length;
    const refused = await browser.submit(removed, '/account/security/remove', { methodId: codesId });
    assert.equal(refused.status, 409);
    assert.match(refused.text, /This method cannot be removed: you need at least 1 recovery method\. Add the new method first/);
    assert.deepEqual((await methodsOf(account.id)).map((m) => m.id), [codesId]);
    assert.equal(smtp.messages.length, mailsBefore, 'a refusal sends no notice');

    // Regenerate: the old set stops working at once, the new one works.
    const regenerated = await browser.submit(refused, '/account/security/regenerate', {});
    assert.equal(regenerated.status, 200);
    assert.match(regenerated.text, /Your new recovery codes/);
    const newCodes = [...regenerated.text.matchAll(/<li><code>([0-9a-z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    assert.equal(newCodes.length, 10);
    const record = (await methodsOf(account.id))[0] as RecoveryCodesMethod;
    const method = t.services.methods.get('recovery_codes')!;
    const fresh = (await t.services.accounts.get(account.id))!;
    const old = await method.verifyChallenge(recoveryContext(fresh), record, {}, { code: oldCodes[0]! });
    assert.equal(old.ok, false, 'an old code no longer verifies');
    const fine = await method.verifyChallenge(recoveryContext(fresh), record, {}, { code: newCodes[0]! });
    assert.equal(fine.ok, true, 'a new code verifies');
    assert.ok((await t.services.audit.recent({ limit: 50 })).some((e) => e.accountId === account.id && e.type === 'recovery_codes.regenerated' && e.actor === 'self'));
    await mailTo('ana@example.com', mailsBefore, /security info was changed/);
    const notSaved = await browser.submit(regenerated, '/account/security/codes-saved', {});
    assert.equal(notSaved.status, 400);
    assert.match(notSaved.text, /aria-describedby="saved-error"/);
    const back = await browser.submit(notSaved, '/account/security/codes-saved', { saved: 'yes' });
    assert.match(back.text, /Your new recovery codes are in use/);
    assert.doesNotMatch(back.text, new RegExp(newCodes[1]!), 'the codes are not shown again');
    stored = await methodsOf(account.id);
    assert.equal(stored.length, 1);
  });

  it('a POST with a wrong CSRF token gets 403 and changes nothing', async () => {
    const { account, address } = await seed('cody');
    const browser = await signIn('cody');
    const manage = await prove(browser, address);
    const add = await browser.submit(manage, formAction(manage.text, '/account/security/add'), { action: 'open' });
    const codes = await browser.submit(add, '/account/security/add', { action: 'choose', kind: 'recovery_codes' });
    const page = await browser.submit(codes, '/account/security/add', { action: 'finish', saved: 'yes' });
    const before = await methodsOf(account.id);
    assert.equal(before.length, 2);

    const forged = await browser.post('/account/security/remove', { csrf: `${hiddenValue(page.text, 'csrf')}x`, methodId: 'm-cody' });
    assert.equal(forged.status, 403);
    assert.match(forged.text, /The form expired or was sent from elsewhere/);
    const missing = await browser.post('/account/security/regenerate', { methodId: 'm-cody' });
    assert.equal(missing.status, 403);
    assert.deepEqual(await methodsOf(account.id), before, 'nothing changed');

    // Without any session at all, a POST is refused the same way.
    const stranger = await new Browser(t.url).post('/account/security/remove', { csrf: hiddenValue(page.text, 'csrf'), methodId: 'm-cody' });
    assert.equal(stranger.status, 403);
    assert.deepEqual(await methodsOf(account.id), before);
  });

  it('after a method change it offers "Sign out everywhere else": other browsers are signed out, this one stays; CSRF enforced (7.4.3)', async () => {
    const { account, address } = await seed('dora');
    const here = await signIn('dora');
    const elsewhere = await signIn('dora');
    assert.equal(await t.services.store.oidc.countByAccount('Session', account.id), 2);
    const manage = await prove(here, address);
    assert.doesNotMatch(manage.text, /Sign out everywhere else/, 'offered only after a change');
    const add = await here.submit(manage, formAction(manage.text, '/account/security/add'), { action: 'open' });
    const codes = await here.submit(add, '/account/security/add', { action: 'choose', kind: 'recovery_codes' });
    const added = await here.submit(codes, '/account/security/add', { action: 'finish', saved: 'yes' });
    assert.match(added.text, /Added: Recovery codes/);
    assert.match(added.text, /<form method="post" action="\/account\/security\/sessions\/end-others"><input type="hidden" name="csrf"/);
    assert.match(added.text, /Sign out everywhere else/);

    const forged = await here.post('/account/security/sessions/end-others', { csrf: `${hiddenValue(added.text, 'csrf')}x` });
    assert.equal(forged.status, 403);
    assert.equal(await t.services.store.oidc.countByAccount('Session', account.id), 2, 'nothing ended without the token');

    const ended = await here.submit(added, '/account/security/sessions/end-others', {});
    assert.equal(ended.status, 200);
    assert.match(ended.text, /Ended 1 other session; this browser is still signed in\./);
    assert.equal(await t.services.store.oidc.countByAccount('Session', account.id), 1);
    assert.match((await here.open('/account/security')).text, /Your methods/, 'this browser stays signed in, proof and all');
    const gone = await elsewhere.open('/account/security');
    assert.doesNotMatch(gone.text, /Step 1: your password|Your methods/, 'the other browser is signed out');
    assert.match(gone.text, /href="\/account\/login"/);
    const event = (await t.services.audit.recent({ limit: 100 })).find((e) => e.accountId === account.id && e.type === 'session.ended_others');
    assert.ok(event, 'audited');
    assert.equal(event.actor, 'self');
    assert.deepEqual(event.details, { count: 1 });
  });

  it('lists where the account is signed in, this browser marked; "End" ends another session, CSRF enforced (7.5.2)', async () => {
    const { account, address } = await seed('sami');
    const here = await signIn('sami');
    const elsewhere = await signIn('sami');
    // Both browsers also signed in to an app with a back-channel logout URI (their rekey session lets them in at once).
    const sidAt = async (browser: Browser): Promise<string> => {
      const flow = await bcl.start();
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      assert.ok(page.location?.startsWith(t.redirectUri), page.text.slice(0, 300));
      return String((await bcl.finish(flow, page.location!)).claims()!.sid);
    };
    const hereSid = await sidAt(here);
    const elsewhereSid = await sidAt(elsewhere);
    receiver.received.length = 0;
    const manage = await prove(here, address);
    assert.match(manage.text, /Where you are signed in/);
    assert.equal([...manage.text.matchAll(/<li>signed in \d{4}-\d\d-\d\d \d\d:\d\d UTC, until \d{4}-/g)].length, 2, 'both sessions are listed');
    assert.match(manage.text, /\(this browser\)/);
    const handles = [...manage.text.matchAll(/name="session" value="([^"]+)"/g)].map((m) => m[1]!);
    assert.equal(handles.length, 1, 'only the other session has an End button');

    const forged = await here.post('/account/security/sessions/end', { csrf: `${hiddenValue(manage.text, 'csrf')}x`, session: handles[0]! });
    assert.equal(forged.status, 403);
    assert.equal(await t.services.store.oidc.countByAccount('Session', account.id), 2, 'nothing ended without the token');
    const unknown = await here.submit(manage, '/account/security/sessions/end', { session: 'not-a-session' });
    assert.equal(unknown.status, 409);
    assert.match(unknown.text, /That session has already ended/);

    const ended = await here.submit(manage, '/account/security/sessions/end', { session: handles[0]! });
    assert.equal(ended.status, 200);
    assert.match(ended.text, /Ended the session signed in \d{4}-\d\d-\d\d \d\d:\d\d UTC\./);
    assert.doesNotMatch(ended.text, /name="session" value=/, 'no other session is left');
    assert.equal(await t.services.store.oidc.countByAccount('Session', account.id), 1);
    // The app is told of the ended session only, by a logout token for its sid.
    assert.equal(receiver.received.length, 1, 'one back-channel logout');
    const token = receiver.received[0]!.body.get('logout_token')!;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sid?: string; sub?: string; aud?: string };
    assert.equal(claims.sid, elsewhereSid);
    assert.notEqual(claims.sid, hereSid);
    assert.equal(claims.sub, account.id);
    assert.equal(claims.aud, 'bcl-rp');
    const gone = await elsewhere.open('/account/security');
    assert.doesNotMatch(gone.text, /Step 1: your password|Your methods/, 'the other browser is signed out');
    assert.match(gone.text, /href="\/account\/login"/);
    assert.match((await here.open('/account/security')).text, /Your methods/, 'this browser stays');
    const events = (await t.services.audit.recent({ limit: 100 })).filter((e) => e.accountId === account.id && e.type === 'session.ended');
    assert.deepEqual(events.map((e) => e.outcome).sort(), ['failure', 'success']);
    assert.ok(events.every((e) => e.actor === 'self'));
  });

  it('without a session: a sign-in prompt, and /account/login leads through the normal sign-in back to the page', async () => {
    await seed('bea');
    const browser = new Browser(t.url);
    const prompt = await browser.open('/account/security');
    assert.equal(prompt.status, 200);
    assert.match(prompt.text, /Sign in to manage your security info/);
    assert.match(prompt.text, /href="\/account\/login"/);

    const login = await browser.get('/account/login');
    assert.equal(login.status, 302);
    const authz = new URL(login.location!);
    assert.equal(authz.searchParams.get('client_id'), 'rekey-account');
    assert.equal(authz.searchParams.get('redirect_uri'), `${t.url}/account/callback`);
    assert.equal(authz.searchParams.get('code_challenge_method'), 'S256');
    const signin = await browser.follow(login);
    assert.equal(signin.status, 200);
    assert.match(signin.text, /Sign in to continue to My security info/);
    const back = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'bea', password: PASSWORD });
    assert.equal(back.status, 200, back.text.slice(0, 300));
    assert.equal(new URL(back.url).pathname, '/account/security');
    assert.match(back.text, /Step 1: your password/);

    // A callback replayed without its transaction does nothing.
    const replay = await browser.get('/account/callback?code=x&state=y');
    assert.equal(replay.status, 400);
  });

  it('an account in scope with no method at all is sent to sign in again (bootstrap), not given a password-only way in', async () => {
    const { account } = await seed('dina');
    const browser = await signIn('dina');
    await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [] }));
    const page = await browser.open('/account/security');
    assert.match(page.text, /Sign in again to set up your first method/);
    const pw = await browser.post('/account/security/password', { csrf: 'anything', password: PASSWORD });
    assert.equal(pw.status, 403);
    const next = await browser.open('/account/login');
    assert.equal(next.status, 200);
    assert.match(next.text, /Confirm it is you/, 'the sign-in bootstrap proof');
  });

  it('an account with no usable method (only a kind policy no longer offers) proves the password alone', async () => {
    const { account } = await seed('finn');
    const browser = await signIn('finn');
    const now = t.services.clock();
    await t.services.accounts.update(account.id, (a) => ({
      ...a,
      methods: [{ id: 'm-phone', kind: 'mobile_phone', e164: '+48601234567', country: 'PL', registeredAt: now, confirmedAt: now } satisfies MethodRecord],
    }));
    const start = await browser.open('/account/security');
    assert.match(start.text, /Step 1: your password/);
    const manage = await browser.submit(start, '/account/security/password', { password: PASSWORD });
    assert.match(manage.text, /Your methods/);
    assert.match(manage.text, /Mobile phone<\/strong>: no longer offered/);
    assert.match(manage.text, /Add a method/);
  });

  it('a locked account gets a clear message at the password step', async () => {
    await seed('lou');
    const browser = await signIn('lou');
    let page = await browser.open('/account/security');
    for (let i = 0; i < t.services.config.SIGNIN_LOCKOUT_THRESHOLD; i += 1) {
      page = await browser.submit(page, '/account/security/password', { password: `wrong-password-${i}` });
    }
    const locked = await browser.submit(page, '/account/security/password', { password: PASSWORD });
    assert.equal(locked.status, 429);
    assert.match(locked.text, /Too many failed attempts\. Try again in \d+ minutes?/);
    assert.match(locked.text, /role="alert"/);
  });

  it('the proof of one session does not carry to another browser, and lapses after RECENT_PROOF_MINUTES', async () => {
    const { account, address } = await seed('eli');
    const first = await signIn('eli');
    await prove(first, address);

    // Another browser, same user, its own session: asked again; its POSTs change nothing.
    const second = await signIn('eli');
    const other = await second.open('/account/security');
    assert.match(other.text, /Step 1: your password/);
    const attempt = await second.submit(other, '/account/security/remove', { methodId: 'm-eli' });
    assert.match(attempt.text, /Step 1: your password/);
    assert.equal((await methodsOf(account.id)).length, 1);

    // Still fresh in the first browser...
    assert.match((await first.open('/account/security')).text, /Your methods/);
    // ...until the window has passed.
    offset += (t.services.config.RECENT_PROOF_MINUTES + 1) * MINUTE;
    const lapsed = await first.open('/account/security');
    assert.match(lapsed.text, /Step 1: your password/);
    const late = await first.submit(lapsed, '/account/security/regenerate', {});
    assert.match(late.text, /Step 1: your password/);
    assert.deepEqual((await methodsOf(account.id)).map((m) => m.kind), ['email']);
    // And proving again works.
    await prove(first, address);
  });
});
