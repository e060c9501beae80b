/**
 * Cookie prefixes (OWASP ASVS 5.0 3.3.1, 3.3.3). Behind the TLS proxy (ISSUER https://…,
 * TRUST_PROXY_HOPS=1, X-Forwarded-Proto: https) every cookie rekey sets — oidc-provider's and
 * rekey's own — is named `__Host-…` (Secure, Path=/, no Domain), except oidc-provider's two
 * interaction cookies, which are scoped to one sign-in's path and so are `__Secure-…`. Over
 * plain http (development) browsers refuse both prefixes: the names stay bare, and everything
 * still works.
 *
 * The suite drives every flow that sets cookies through a small cookie-keeping client that
 * stands where a browser would, behind a stand-in for the TLS proxy: requests to the https
 * ISSUER go to the app's loopback port with the proxy's headers. rekey's own relying parties
 * (My security info, the admin dashboard) call the issuer too, so the stand-in wraps the
 * global fetch for the suite.
 */
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { formAction, hiddenValue, PageClient, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { seedWithMethods } from '../support/seed.ts';
import { PASSWORD } from './helpers.ts';

const HTTPS_ISSUER = 'https://login.rekey.test';
/** oidc-provider's cookies scoped to one sign-in (/interaction/<uid>, /auth/<uid>), signed. */
const PATH_SCOPED = new Set(['__Secure-_interaction', '__Secure-_interaction_resume', '__Secure-_interaction.sig', '__Secure-_interaction_resume.sig']);

interface SetCookie {
  line: string;
  name: string;
  value: string;
  attrs: Map<string, string>;
}

function parseSetCookie(line: string): SetCookie {
  const [pair, ...rest] = line.split(';');
  const eq = pair!.indexOf('=');
  const attrs = new Map<string, string>();
  for (const a of rest) {
    const i = a.indexOf('=');
    attrs.set((i < 0 ? a : a.slice(0, i)).trim().toLowerCase(), i < 0 ? '' : a.slice(i + 1).trim());
  }
  return { line, name: pair!.slice(0, eq).trim(), value: pair!.slice(eq + 1).trim(), attrs };
}

const deleting = (c: SetCookie): boolean => c.value === '' || c.attrs.get('max-age') === '0' || (c.attrs.has('expires') && Date.parse(c.attrs.get('expires')!) < Date.now());

/**
 * A browser's cookie handling (name, Path; the Secure and prefix rules are what the suite
 * asserts) over fetch, remembering every Set-Cookie line it was sent.
 */
class CookieBrowser extends PageClient {
  readonly seen: SetCookie[] = [];
  private readonly jar = new Map<string, { name: string; value: string; path: string }>();

  constructor(private readonly origin: string) {
    super();
  }

  private cookieHeader(path: string): string {
    const matches = [...this.jar.values()].filter((c) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`));
    matches.sort((a, b) => b.path.length - a.path.length);
    return matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  private async request(url: string, init: { method: string; body?: string }): Promise<Page> {
    const target = new URL(url, this.origin);
    if (target.origin !== this.origin) throw new Error(`refusing to leave the test server: ${url}`);
    const cookie = this.cookieHeader(target.pathname);
    const res = await fetch(target, {
      method: init.method,
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), ...(init.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    for (const line of res.headers.getSetCookie()) {
      const c = parseSetCookie(line);
      this.seen.push(c);
      const path = c.attrs.get('path') || '/';
      const key = `${c.name};${path}`;
      if (deleting(c)) this.jar.delete(key);
      else this.jar.set(key, { name: c.name, value: c.value, path });
    }
    const location = res.headers.get('location');
    return { status: res.status, url: target.toString(), text: await res.text(), ...(location ? { location } : {}) };
  }

  get(url: string): Promise<Page> {
    return this.request(url, { method: 'GET' });
  }

  post(url: string, form: Record<string, string>): Promise<Page> {
    return this.request(url, { method: 'POST', body: new URLSearchParams(form).toString() });
  }

  names(): Set<string> {
    return new Set(this.seen.map((c) => c.name));
  }
}

/**
 * The TLS proxy's stand-in: a request to `issuer` goes to the app's loopback URL with the
 * headers a TLS-terminating proxy adds. Returns the function that puts the real fetch back.
 */
function proxyFetch(issuer: string, upstream: string): () => void {
  const real = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.origin !== issuer) return real(request);
    const headers = new Headers(request.headers);
    headers.set('x-forwarded-proto', 'https');
    headers.set('x-forwarded-for', '203.0.113.7');
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
    return real(`${upstream}${url.pathname}${url.search}`, { method: request.method, headers, redirect: 'manual', ...(body ? { body } : {}) });
  };
  return () => {
    globalThis.fetch = real;
  };
}

/** The password page, then (when asked) the authenticator app, optionally remembering the device. */
async function signIn(browser: CookieBrowser, start: Page, login: string, totp: string, stopAt: string, remember = false): Promise<Page> {
  assert.equal(start.status, 200, start.text.slice(0, 500));
  let page = await browser.submit(start, formAction(start.text, '/password'), { identifier: login, password: PASSWORD }, stopAt);
  if (page.status === 200 && /second-factor/.test(page.text)) {
    const ref = /name="ref" id="ref-(f\d)" value="\1"/.exec(page.text)![1]!;
    const proof = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref }, stopAt);
    page = await browser.submit(proof, formAction(proof.text, '/second-factor'), { action: 'finish', code: await generate({ secret: totp }), ...(remember ? { remember: 'yes' } : {}) }, stopAt);
  }
  return page;
}

describe('Cookie prefixes (ASVS 3.3.1, 3.3.3)', function () {
  this.timeout(120_000);

  describe('behind the TLS proxy (ISSUER https, X-Forwarded-Proto: https)', () => {
    let t: TestApp;
    let restore: () => void;
    let rp: RelyingParty;
    const browsers: CookieBrowser[] = [];
    const browser = (): CookieBrowser => {
      const b = new CookieBrowser(HTTPS_ISSUER);
      browsers.push(b);
      return b;
    };

    before(async () => {
      t = await startTestApp({ ISSUER: HTTPS_ISSUER, TRUST_PROXY_HOPS: '1', TWO_FACTOR: 'all', REMEMBER_DEVICE_DAYS: '30', SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes' });
      restore = proxyFetch(HTTPS_ISSUER, t.url);
      rp = await RelyingParty.discover(HTTPS_ISSUER, t.redirectUri);
    });
    after(async () => {
      restore?.();
      await t?.close();
    });

    it('every cookie of sign-in, remembered device, language, reset, invitation, password change, My security info, the dashboard and sign-out is __Host- (Secure, Path=/, no Domain) or a path-scoped __Secure- one, and each flow still completes', async () => {
      const ada = await seedWithMethods(t.services, 'ada', PASSWORD);
      const ines = await seedWithMethods(t.services, 'ines', PASSWORD, true);

      // Sign-in at a relying party, in German, with the authenticator app, remembering the device.
      const b = browser();
      const flow = await rp.start({ ui_locales: 'de' });
      const first = await b.open(flow.url.toString(), t.redirectUri);
      assert.match(first.text, /<html lang="de"/, 'ui_locales is followed (and remembered in its cookie)');
      const done = await signIn(b, first, 'ada', ada.totp, t.redirectUri, true);
      assert.ok(done.location?.startsWith(t.redirectUri), `the sign-in reaches the relying party: ${done.status} ${done.text.slice(0, 500)}`);
      const tokens = await rp.finish(flow, done.location!);
      assert.equal(tokens.claims()!.sub, ada.id);
      assert.ok((await t.services.accounts.get(ada.id))!.devices?.length, 'the device is remembered');

      // The session, read back: a second sign-in is silent.
      const again = await rp.start();
      const silent = await b.open(again.url.toString(), t.redirectUri);
      assert.ok(silent.location?.startsWith(t.redirectUri), `the session cookie is read back: ${silent.status}`);
      await rp.finish(again, silent.location!);

      // A new session in the same browser: the remembered device stands in for the second factor.
      const fresh = await rp.start({ prompt: 'login' });
      const relogin = await b.open(fresh.url.toString(), t.redirectUri);
      const back = await b.submit(relogin, formAction(relogin.text, '/password'), { identifier: 'ada', password: PASSWORD }, t.redirectUri);
      assert.ok(back.location?.startsWith(t.redirectUri), `the device cookie is read back (no second factor asked): ${back.status} ${back.text.slice(0, 300)}`);
      await rp.finish(fresh, back.location!);

      // My security info (rekey's own relying party) and the password change form.
      const security = await b.open('/account/login');
      assert.equal(security.status, 200, security.text.slice(0, 500));
      assert.match(security.url, /\/account\/security$/, 'its sign-in comes back to My security info');
      const change = await b.open('/account/password');
      assert.equal(change.status, 200, change.text.slice(0, 500));
      assert.ok(hiddenValue(change.text, 'csrf'));

      // Sign-out at the provider (RP-initiated logout) ends the session.
      const logout = await b.open(`/session/end?client_id=test-rp`);
      assert.equal(logout.status, 200, logout.text.slice(0, 300));
      const xsrf = hiddenValue(logout.text, 'xsrf');
      const out = await b.follow(await b.post(formAction(logout.text, '/session/end/confirm'), { xsrf, logout: 'yes' }));
      assert.equal(out.status, 200, out.text.slice(0, 300));
      const afterLogout = await rp.start();
      const asks = await b.open(afterLogout.url.toString(), t.redirectUri);
      assert.equal(asks.status, 200, 'after sign-out the sign-in page is shown again');
      assert.match(asks.text, /name="password"/);

      // Reset: the start form's token, the flow cookie (read back on the next page), the continue form.
      const r = browser();
      const resetForm = await r.open('/reset');
      const choose = await r.submit(resetForm, '/reset', { identifier: 'ada' });
      assert.equal(choose.status, 200, choose.text.slice(0, 500));
      const flowPage = await r.open('/reset/flow');
      assert.equal(flowPage.status, 200, 'the flow cookie is read back');
      assert.doesNotMatch(flowPage.text, /expired/i);
      assert.equal((await r.open('/reset/continue?flow=abcdefghijklmnop')).status, 200);

      // An invitation form sets its token.
      const i = browser();
      assert.equal((await i.open('/invite')).status, 200);

      // The admin dashboard: its sign-in, its session and its form token, then its sign-out.
      const a = browser();
      const adminStart = await a.open('/admin');
      const dashboard = await signIn(a, adminStart, 'ines', ines.totp, `${HTTPS_ISSUER}/never`);
      assert.equal(dashboard.status, 200, dashboard.text.slice(0, 500));
      assert.match(dashboard.text, /Signed in as ines/, 'the admin session cookie is read back');
      const signedOut = await a.submit(dashboard, formAction(dashboard.text, '/admin/logout'), {});
      assert.doesNotMatch(signedOut.text, /Signed in as ines/, 'the dashboard sign-out ends its session');

      const all = browsers.flatMap((x) => x.seen);
      const names = new Set(browsers.flatMap((x) => [...x.names()]));
      for (const expected of [
        '__Host-_session',
        '__Secure-_interaction',
        '__Secure-_interaction_resume',
        '__Host-rekey.locale',
        '__Host-rekey_device',
        '__Host-rekey_account_tx',
        '__Host-account_password_csrf',
        '__Host-rekey_reset_start',
        '__Host-rekey_reset',
        '__Host-rekey_reset_continue',
        '__Host-invite_csrf',
        '__Host-rekey_admin_tx',
        '__Host-rekey_admin',
        '__Host-rekey_admin_csrf',
      ]) {
        assert.ok(names.has(expected), `${expected} was set (seen: ${[...names].sort().join(', ')})`);
      }
      for (const c of all) {
        if (c.name.startsWith('__Host-')) {
          assert.ok(c.attrs.has('secure'), `Secure: ${c.line}`);
          assert.equal(c.attrs.get('path'), '/', `Path=/: ${c.line}`);
          assert.ok(!c.attrs.has('domain'), `no Domain: ${c.line}`);
        } else if (c.name.startsWith('__Secure-')) {
          assert.ok(c.attrs.has('secure'), `Secure: ${c.line}`);
          assert.ok(PATH_SCOPED.has(c.name), `only the path-scoped interaction cookies use __Secure-: ${c.line}`);
          assert.notEqual(c.attrs.get('path') ?? '/', '/', `a __Secure- cookie is path-scoped (else it would be __Host-): ${c.line}`);
        } else {
          assert.fail(`a cookie without __Host- or __Secure-: ${c.line}`);
        }
        assert.ok(c.attrs.has('httponly'), `HttpOnly: ${c.line}`);
        assert.match(c.attrs.get('samesite') ?? '', /^(lax|strict)$/i, `SameSite: ${c.line}`);
      }
    });
  });

  describe('over plain http (development)', () => {
    let t: TestApp;

    before(async () => {
      t = await startTestApp({ TWO_FACTOR: 'all', REMEMBER_DEVICE_DAYS: '30', SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes' });
    });
    after(() => t?.close());

    it('cookie names stay unprefixed (browsers refuse the prefixes without Secure), nothing is Secure, and sign-in, remembered device and reset work', async () => {
      const rp = await RelyingParty.discover(t.url, t.redirectUri);
      const ada = await seedWithMethods(t.services, 'ada', PASSWORD);
      const b = new CookieBrowser(t.url);
      const flow = await rp.start({ ui_locales: 'de' });
      const first = await b.open(flow.url.toString(), t.redirectUri);
      const done = await signIn(b, first, 'ada', ada.totp, t.redirectUri, true);
      assert.ok(done.location?.startsWith(t.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
      assert.equal((await rp.finish(flow, done.location!)).claims()!.sub, ada.id);
      const fresh = await rp.start({ prompt: 'login' });
      const relogin = await b.open(fresh.url.toString(), t.redirectUri);
      const back = await b.submit(relogin, formAction(relogin.text, '/password'), { identifier: 'ada', password: PASSWORD }, t.redirectUri);
      assert.ok(back.location?.startsWith(t.redirectUri), 'the remembered device is read back');
      const resetForm = await b.open('/reset');
      assert.equal((await b.submit(resetForm, '/reset', { identifier: 'ada' })).status, 200);
      assert.equal((await b.open('/reset/flow')).status, 200);

      const names = b.names();
      for (const expected of ['_session', '_interaction', '_interaction_resume', 'rekey.locale', 'rekey_device', 'rekey_reset', 'rekey_reset_start']) {
        assert.ok(names.has(expected), `${expected} was set (seen: ${[...names].sort().join(', ')})`);
      }
      for (const c of b.seen) {
        assert.doesNotMatch(c.name, /^__(Host|Secure)-/i, c.line);
        assert.ok(!c.attrs.has('secure'), `not Secure over http: ${c.line}`);
      }
    });
  });
});
