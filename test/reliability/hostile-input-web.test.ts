/**
 * Hostile input against the web's own weak spots:
 * - open redirects: every place that redirects to, or links to, a URL taken from input
 *   (redirect_uri, post_logout_redirect_uri, the reset's return `r` and its "back to the app"
 *   link, the /account and /admin sign-in callbacks, the sign-in's "Forgot password?") with
 *   other-origin URLs, `//evil`, `/\evil`, `javascript:`, userinfo tricks and encoded variants
 *   → never a Location, link or form action to another origin;
 * - forged Host, X-Forwarded-Host/-Proto and absolute-form request targets: the discovery
 *   document, redirects, ID tokens and emails always carry ISSUER; with TRUST_PROXY_HOPS=0
 *   X-Forwarded-For changes neither the audited IP nor the per-IP throttles;
 * - CSRF: every POST form (the list is read from the routes' sources, so a new form without a
 *   case here fails) refuses a missing and a foreign token with 403 and changes nothing;
 * - session fixation: the session cookie changes at sign-in, and a session cookie planted from
 *   another browser never becomes the victim's session.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import request from 'supertest';
import { totpNow } from '../support/totp.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { ROOT } from '../support/cli.ts';
import { Invitations } from '../../src/domain/invitations.ts';
import { PASSWORD, auditOf, factorRef, resetRef, seedAccount, startResetPage, type Seeded } from './helpers.ts';
import { rawRequest } from './hostile.ts';
import { entryFor, writeCorpus } from '../support/breach-corpus.ts';

const EVIL = 'evil.example';
/** In the test's breach corpus: signing in with it asks for a new password. */
const BREACHED_PASSWORD = 'summer-sunshine-breached-2024';

/** Other-origin targets in the shapes browsers and URL parsers disagree about. */
function hostileTargets(origin: string): string[] {
  const { host } = new URL(origin);
  return [
    `https://${EVIL}/`,
    `http://${EVIL}/test-rp/callback`,
    `//${EVIL}/`,
    `///${EVIL}/`,
    `/\\${EVIL}/`,
    `\\\\${EVIL}/`,
    `/%2F${EVIL}/`,
    `%2F%2F${EVIL}`,
    `https:${EVIL}`,
    `http://${host}@${EVIL}/`,
    `http://${EVIL}\\@${host}/test-rp/callback`,
    `http://${host}.${EVIL}/test-rp/callback`,
    `${origin}/test-rp/callback/../../..//${EVIL}`,
    `${origin}/test-rp/callback?next=//${EVIL}`,
    `${origin}/test-rp/callback#//${EVIL}`,
    `${origin}/test-rp/callbacks`,
    `javascript:alert(document.domain)//${origin}/test-rp/callback`,
    `JaVaScRiPt:alert(1)`,
    `data:text/html,<script>alert(1)</script>`,
    `\u0000https://${EVIL}`,
    ` https://${EVIL}`,
    `https://${EVIL}\u3002com`,
    `http://${EVIL}%2F@${host}`,
  ];
}

/** Location (if any), links and form actions of an answer all stay on `origin`. */
function staysHome(res: { status: number; headers: Record<string, unknown>; text?: string }, origin: string, label: string): void {
  assert.ok(res.status < 500, `${label}: ${res.status}`);
  const location = res.headers.location as string | undefined;
  if (location) {
    const target = new URL(location, origin);
    assert.equal(target.origin, new URL(origin).origin, `${label}: Location ${location}`);
  }
  const text = res.text ?? '';
  for (const m of text.matchAll(/(?:href|action|src)="([^"]*)"/g)) {
    const value = m[1]!.replace(/&amp;/g, '&');
    if (value.startsWith('#')) continue;
    assert.ok(!/^\s*(javascript|data|vbscript):/i.test(value), `${label}: ${m[0]}`);
    assert.equal(new URL(value, origin).origin, new URL(origin).origin, `${label}: ${m[0]}`);
  }
  assert.doesNotMatch(text, /http-equiv="refresh"/i, `${label}: no meta refresh`);
}

describe('hostile input: open redirects, forged Host and X-Forwarded-*, CSRF, session fixation', function () {
  this.timeout(120_000);
  let t: TestApp;
  let rp: RelyingParty;
  let smtp: TestSmtpServer;

  before(async () => {
    smtp = await startSmtpServer();
    const corpus = join(mkdtempSync(join(tmpdir(), 'rekey-breach-')), 'pwned.txt');
    writeCorpus(corpus, [entryFor(BREACHED_PASSWORD, 3)], { filler: 50 });
    t = await startTestApp({
      BREACHED_PASSWORDS_FILE: corpus,
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,authenticator_app,recovery_codes',
      SSPR_METHODS_REQUIRED: '1',
      SSPR_RECONFIRM_DAYS: '30',
      TWO_FACTOR: 'admins',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      RESET_STARTS_PER_IP: '10000',
      SIGNIN_IP_MAX_FAILURES: '100000',
    });
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  async function signIn(login: string, browser = new Browser(t.url), params: Record<string, string> = {}): Promise<{ browser: Browser; done: Page; sub: string }> {
    const flow = await rp.start(params);
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const done = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password: PASSWORD }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri), `${login} signs in: ${done.status} ${done.text.slice(0, 300)}`);
    const tokens = await rp.finish(flow, done.location!);
    return { browser, done, sub: tokens.claims()!.sub };
  }

  interface Hop {
    status: number;
    url: string;
    text: string;
    location?: string;
    csp: string;
  }

  /** One request with the browser's cookies, then its redirects up to `stopAt`; the last answer with its CSP. */
  async function walk(browser: Browser, method: 'get' | 'post', url: string, stopAt: string, form?: Record<string, string>): Promise<Hop> {
    let target = new URL(url, t.url);
    let req = browser.agent[method](target.pathname + target.search);
    if (form) req = req.type('form').send(form);
    let res = await req.redirects(0);
    for (let i = 0; i < 20 && res.headers.location; i += 1) {
      target = new URL(res.headers.location, target);
      if (target.toString().startsWith(stopAt)) break;
      res = await browser.agent.get(target.pathname + target.search).redirects(0);
    }
    return { status: res.status, url: target.toString(), text: res.text ?? '', csp: String(res.headers['content-security-policy'] ?? ''), ...(res.headers.location ? { location: new URL(res.headers.location, target).toString() } : {}) };
  }

  /**
   * Signs `login` in at an open sign-in page. Signing in as someone else than the browser's
   * session ends that session first with oidc-provider's auto-submitting form: its one script
   * must be allowed by the page's CSP (else the browser sits on a blank page); then the form
   * is posted as the script would.
   */
  async function passwordAndOn(browser: Browser, signin: Page, login: string): Promise<Hop> {
    let hop = await walk(browser, 'post', formAction(signin.text, '/password'), t.redirectUri, { csrf: hiddenValue(signin.text, 'csrf'), identifier: login, password: PASSWORD });
    if (/<title>Submitting Callback<\/title>/.test(hop.text)) {
      const script = /<script>([\s\S]*?)<\/script>/.exec(hop.text)![1]!;
      assert.ok(hop.csp.includes(`'sha256-${createHash('sha256').update(script).digest('base64')}'`), `the CSP lets the form submit itself: ${hop.csp}`);
      const action = /<form method="post" action="([^"]+)"/.exec(hop.text)![1]!.replace(/&amp;/g, '&');
      const fields = Object.fromEntries([...hop.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1]!, m[2]!]));
      hop = await walk(browser, 'post', action, t.redirectUri, fields);
    }
    return hop;
  }

  /** Who the browser's rekey session belongs to: a silent authorization request (prompt=none). */
  async function sessionOwner(browser: Browser): Promise<string | undefined> {
    const flow = await rp.start({ prompt: 'none' });
    const res = await browser.open(flow.url.toString(), t.redirectUri);
    const callback = new URL(res.location ?? res.url, t.url);
    if (!callback.searchParams.get('code')) return undefined;
    return (await rp.finish(flow, callback.toString())).claims()!.sub;
  }

  describe('open redirects', () => {
    it('redirect_uri: an unregistered target gets the error page, never a redirect there', async () => {
      for (const target of hostileTargets(t.url)) {
        const flow = await rp.start({ redirect_uri: target });
        const res = await request(t.url).get(`${flow.url.pathname}${flow.url.search}`).redirects(0);
        staysHome(res, t.url, `redirect_uri=${target}`);
        assert.ok(res.status === 400 || res.status === 303 || res.status === 302, `redirect_uri=${target}: ${res.status}`);
      }
    });

    it('post_logout_redirect_uri: only a registered one is followed, with or without a session', async () => {
      const s = await seedAccount(t, 'redir-logout', ['email']);
      const { browser } = await signIn(s.login);
      for (const target of hostileTargets(t.url)) {
        for (const extra of [{}, { client_id: 'test-rp' }] as Record<string, string>[]) {
          const query = new URLSearchParams({ post_logout_redirect_uri: target, ...extra }).toString();
          const anonymous = await request(t.url).get(`/session/end?${query}`).redirects(0);
          staysHome(anonymous, t.url, `anonymous /session/end ${query}`);
          const signedIn = await browser.agent.get(`/session/end?${query}`).redirects(0);
          staysHome(signedIn, t.url, `signed-in /session/end ${query}`);
        }
      }
      // The sign-out confirmation itself ends at a registered URI (or rekey's own page).
      const page = await browser.get(`/session/end?${new URLSearchParams({ client_id: 'test-rp', post_logout_redirect_uri: `${t.url}/test-rp/logged-out` })}`);
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)![1]!;
      const confirmed = await browser.agent.post('/session/end/confirm').type('form').send({ xsrf, logout: 'yes' }).redirects(0);
      staysHome(confirmed, t.url, 'logout confirm');
      assert.equal(confirmed.headers.location, `${t.url}/test-rp/logged-out`);
    });

    it('the reset\'s return `r` and its "back to the app" link: only a stored sign-in request, sent back through /auth', async () => {
      const s = await seedAccount(t, 'redir-reset', ['authenticator_app']);
      for (const r of [...hostileTargets(t.url), 'a'.repeat(41), '__proto__', '../..']) {
        const page = await request(t.url).get(`/reset?r=${encodeURIComponent(r)}`).redirects(0);
        staysHome(page, t.url, `/reset?r=${r}`);
        assert.doesNotMatch(page.text, new RegExp(EVIL.replace('.', '\\.')), `r=${r} is not echoed as a link`);
      }
      // A real "Forgot password?" from a sign-in: the done page links to /auth with the registered redirect_uri.
      const browser = new Browser(t.url);
      const flow = await rp.start();
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      const forgot = await browser.get(new URL(formAction(signin.text, '/password').replace(/\/password$/, '/forgot'), t.url).toString());
      staysHome({ status: forgot.status, headers: { location: forgot.location }, text: forgot.text }, t.url, 'forgot');
      assert.match(forgot.location ?? '', /^\/reset\?r=[A-Za-z0-9_-]+$/);
      const form = await browser.get(forgot.location!);
      // A hostile `r` in the form's hidden field instead of the stored one: no return link at all.
      for (const r of [`//${EVIL}`, `https://${EVIL}/`]) {
        const started = await browser.agent.post('/reset').type('form').send({ csrf: hiddenValue(form.text, 'csrf'), identifier: s.login, r }).redirects(0);
        staysHome(started, t.url, `POST /reset r=${r}`);
      }
      const choose = await browser.submit(form, '/reset', { identifier: s.login, r: hiddenValue(form.text, 'r') });
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, 'Authenticator app') });
      const pw = await browser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(s.totp!) });
      const done = await browser.submit(pw, '/reset/flow', { password: 'brand-new-lantern-password', confirm: 'brand-new-lantern-password' });
      assert.match(done.text, /Password changed/);
      staysHome({ status: done.status, headers: {}, text: done.text }, t.url, 'reset done page');
      const back = /<a class="button" href="([^"]+)"/.exec(done.text)![1]!.replace(/&amp;/g, '&');
      assert.ok(back.startsWith('/auth?'), back);
      assert.equal(new URL(back, t.url).searchParams.get('redirect_uri'), t.redirectUri);
    });

    it('/account and /admin sign-in: the authorization request goes to ISSUER; the callbacks redirect home or show an error', async () => {
      for (const path of ['/account/login', '/admin/login']) {
        const res = await request(t.url).get(path).set('Host', EVIL).set('X-Forwarded-Host', EVIL).redirects(0);
        assert.ok(String(res.headers.location).startsWith(`${t.url}/auth?`), `${path}: ${res.headers.location}`);
        assert.equal(new URL(res.headers.location as string).searchParams.get('redirect_uri')?.startsWith(t.url), true);
      }
      for (const path of ['/account/callback', '/admin/callback']) {
        for (const query of [`code=x&state=y&iss=${encodeURIComponent(`https://${EVIL}`)}`, `error=access_denied&state=//${EVIL}`, `next=//${EVIL}`, `redirect_uri=https://${EVIL}`]) {
          const res = await request(t.url).get(`${path}?${query}`).redirects(0);
          staysHome(res, t.url, `${path}?${query}`);
        }
      }
      // Absolute-form request targets naming another host.
      for (const path of ['/account/login', '/admin/login', '/account/callback?code=x&state=y', '/reset', '/.well-known/openid-configuration']) {
        const res = await rawRequest(t.url, [`GET http://${EVIL}${path} HTTP/1.1`, `Host: ${EVIL}`, 'Connection: close']);
        staysHome(res, t.url, `absolute-form ${path}`);
        assert.doesNotMatch(res.text, new RegExp(EVIL.replace('.', '\\.')), `absolute-form ${path}: no ${EVIL} in the answer`);
      }
    });
  });

  describe('forged Host and X-Forwarded-*', () => {
    const forged = { Host: EVIL, 'X-Forwarded-Host': EVIL, 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.9' };

    for (const hops of [0, 1]) {
      it(`TRUST_PROXY_HOPS=${hops}: the discovery document and its endpoints are ISSUER's`, async () => {
        const app = hops === 0 ? t : await startTestApp({ TRUST_PROXY_HOPS: '1' });
        try {
          const clean = (await request(app.url).get('/.well-known/openid-configuration')).body as Record<string, unknown>;
          for (const headers of [{ Host: EVIL }, { 'X-Forwarded-Host': EVIL }, { 'X-Forwarded-Proto': 'https' }, forged, { Host: 'a b' }, { Host: '[::1' }, { Host: `${EVIL}:99999` }]) {
            const res = await request(app.url).get('/.well-known/openid-configuration').set(headers);
            assert.equal(res.status, 200, JSON.stringify(headers));
            assert.deepEqual(res.body, clean, `the same document whatever ${JSON.stringify(headers)} says`);
          }
          for (const [k, v] of Object.entries(clean)) if (typeof v === 'string' && /^https?:/.test(v)) assert.ok(v.startsWith(app.url), `${k}: ${v}`);
        } finally {
          if (app !== t) await app.close();
        }
      });
    }

    it('a whole sign-in, a reset and an invitation with forged headers: redirects, the ID token and every email name ISSUER only', async () => {
      const s = await seedAccount(t, 'forged', ['email', 'authenticator_app']);
      const mailsBefore = smtp.messages.length;
      const browser = new Browser(t.url, forged);
      const flow = await rp.start();
      let page = await browser.get(flow.url.toString());
      for (let i = 0; i < 20 && page.location && !page.location.startsWith(t.redirectUri); i += 1) {
        staysHome({ status: page.status, headers: { location: page.location }, text: page.text }, t.url, `sign-in step ${i}`);
        page = await browser.get(new URL(page.location, t.url).toString());
      }
      page = await browser.submit(page, formAction(page.text, '/password'), { identifier: s.login, password: PASSWORD }, t.redirectUri);
      assert.ok(page.location?.startsWith(t.redirectUri), page.location);
      const claims = (await rp.finish(flow, page.location!)).claims()!;
      assert.equal(claims.iss, t.url);

      // A reset by email through the pages, and the notice; an invitation.
      const resetBrowser = new Browser(t.url, forged);
      const choose = await startResetPage(resetBrowser, s.login);
      const prove = await resetBrowser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, 'Authenticator app') });
      const pw = await resetBrowser.submit(prove, '/reset/flow', { action: 'finish', code: await totpNow(s.totp!) });
      await resetBrowser.submit(pw, '/reset/flow', { password: 'quiet-lantern-ocean-harbour', confirm: 'quiet-lantern-ocean-harbour' });
      const invitee = await t.services.accounts.create({ login: 'forged-invitee', email: 'forged-invitee@example.com', noPassword: true });
      await new Invitations(t.services).issue(invitee.account, { actor: 'cli' });
      await smtp.waitFor((m) => m.to.includes('forged-invitee@example.com'));
      await smtp.waitFor((m) => /password was reset/i.test(m.subject) && m.to.includes(`${s.login}@example.com`));
      const mails = smtp.messages.slice(mailsBefore);
      assert.ok(mails.length >= 2);
      for (const m of mails) {
        assert.doesNotMatch(m.raw, new RegExp(EVIL.replace('.', '\\.')), `mail "${m.subject}" names no forged host`);
        for (const link of m.text.match(/https?:\/\/[^\s)>"]+/g) ?? []) assert.ok(link.startsWith(t.url), `mail "${m.subject}": ${link}`);
      }
    });

    it('TRUST_PROXY_HOPS=0: X-Forwarded-For changes neither the audited IP nor the per-IP throttle', async () => {
      const app = await startTestApp({ SIGNIN_IP_MAX_FAILURES: '5', SIGNIN_LOCKOUT_THRESHOLD: '100', SIGNIN_MAX_CONSECUTIVE_FAILURES: '100' });
      try {
        const appRp = await RelyingParty.discover(app.url, app.redirectUri);
        await app.services.accounts.create({ login: 'xff', email: 'xff@example.com', password: PASSWORD });
        const attempt = async (i: number, password: string) => {
          const browser = new Browser(app.url, { 'X-Forwarded-For': `198.51.100.${i}`, 'X-Real-IP': `198.51.100.${i}` });
          const page = await browser.open((await appRp.start()).url.toString(), app.redirectUri);
          return browser.submit(page, formAction(page.text, '/password'), { identifier: `nobody-${i}`, password }, app.redirectUri);
        };
        for (let i = 1; i <= 5; i += 1) assert.equal((await attempt(i, 'wrong-password-guess')).status, 401, `failure ${i}`);
        const blocked = await attempt(77, 'wrong-password-guess');
        assert.equal(blocked.status, 429, 'a new X-Forwarded-For does not dodge the throttle');
        const events = (await auditOf(app)).filter((e) => e.type === 'signin.password');
        assert.ok(events.length >= 6);
        for (const e of events) assert.equal(e.ip, '127.0.0.1', `audited IP ${e.ip}`);
      } finally {
        await app.close();
      }
    });
  });

  describe('CSRF on every form', () => {
    interface Form {
      path: string;
      browser: Browser;
      fields: Record<string, string>;
      /** Another browser's valid token for the same form. */
      foreign: string;
    }
    const forms = new Map<string, Form>();
    const victims: Seeded[] = [];
    let snapshots: Map<string, string>;
    let startedAt: number;

    /** Every POST route and sign-in stage, read from the sources. */
    function postRoutes(): string[] {
      const out = new Set<string>();
      const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
      const paths = readFileSync(join(ROOT, 'interactions/views/pages/account.ts'), 'utf8');
      for (const file of walk(join(ROOT, 'interactions'))) {
        const src = readFileSync(file, 'utf8');
        for (const m of src.matchAll(/router\.post\(\s*(?:'[^']*',\s*(?=['`]))?(`[^`]*`|'[^']*'|[A-Za-z_]+(?:\.\w+)?)/g)) out.add(`${file.split('/interactions/')[1]} ${m[1]}`);
        for (const m of src.matchAll(/^\s+post\((ACCOUNT_PATHS\.\w+)/gm)) {
          const key = m[1]!.split('.')[1]!;
          out.add(`account ${new RegExp(`${key}: '([^']+)'`).exec(paths)![1]}`);
        }
        if (file.includes('/signin/') && file.endsWith('-stage.ts')) {
          for (const m of src.matchAll(/^\s+name: '([a-z-]+)',$/gm)) out.add(`stage ${m[1]}`);
          // A stage module that makes several stages lists their names in STAGE_NAMES.
          for (const m of /STAGE_NAMES = \{([^}]*)\}/.exec(src)?.[1]?.matchAll(/'([a-z-]+)'/g) ?? []) out.add(`stage ${m[1]}`);
        }
      }
      return [...out].sort();
    }

    const covered: Record<string, string[]> = {
      'signin/routes.ts': ["'/consent'", "'/abort'", "'/:stage'"],
      stage: ['password', 'new-password', 'breached-password', 'bootstrap', 'second-factor', 'register', 'reconfirm'],
      'reset/routes.ts': ["'/reset'", "'/reset/continue'", "'/reset/flow'"],
      'invite/routes.ts': ["'/invite'"],
      'admin/routes.ts': ['ADMIN_PATHS.logout'],
      'account/change-password-routes.ts': ['CHANGE_PASSWORD_PATH'],
      'account/routes.ts': ['path'],
      account: ['/account/security/password', '/account/security/verify', '/account/security/add', '/account/security/remove', '/account/security/regenerate', '/account/security/codes-saved', '/account/security/devices/forget', '/account/security/devices/forget-all', '/account/security/sessions/end', '/account/security/sessions/end-others'],
      // Bearer-secret API, no cookies: CSRF does not apply (checked below: it ignores cookies).
      'api/reset-api.ts': ['`${API_BASE}/resets`', '`${API_BASE}/resets/:flow/choose`', '`${API_BASE}/resets/:flow/prove`', '`${API_BASE}/resets/:flow/back`', '`${API_BASE}/resets/:flow/password`'],
    };

    it('the forms tested here are every POST route and sign-in stage there is', () => {
      const expected = Object.entries(covered).flatMap(([k, v]) => v.map((x) => `${k} ${x}`)).sort();
      assert.deepEqual(postRoutes(), expected);
    });

    before(async () => {
      startedAt = t.services.clock();
      const victim = async (login: string, kinds: Parameters<typeof seedAccount>[2], admin = false) => {
        const s = await seedAccount(t, login, kinds, { admin });
        victims.push(s);
        return s;
      };
      /** A browser at an interaction page (after the password when `login` is given). */
      const interaction = async (login?: string, password = PASSWORD) => {
        const browser = new Browser(t.url);
        let page = await browser.open((await rp.start()).url.toString(), t.redirectUri);
        if (login) page = await browser.submit(page, formAction(page.text, '/password'), { identifier: login, password }, t.redirectUri);
        return { browser, page };
      };
      const add = (name: string, a: { browser: Browser; page: Page }, b: { page: Page }, stage: string, fields: Record<string, string>) => {
        forms.set(name, { path: new URL(formAction(a.page.text, `/${stage}`), t.url).pathname, browser: a.browser, fields, foreign: hiddenValue(b.page.text, 'csrf') });
      };

      // Sign-in stages.
      const pw = await victim('csrf-pw', ['email']);
      add('stage password', await interaction(), await interaction(), 'password', { identifier: pw.login, password: PASSWORD });
      const abortA = await interaction();
      add('abort', abortA, await interaction(), 'abort', {});
      const temporary: Record<string, string> = {};
      for (const login of ['csrf-temp-a', 'csrf-temp-b']) {
        const { account, temporaryPassword } = await t.services.accounts.create({ login, email: `${login}@example.com` });
        await t.services.accounts.update(account.id, (a) => ({ ...a, methods: [{ id: `e-${login}`, kind: 'email', address: `${login}@example.org`, registeredAt: Date.now(), confirmedAt: Date.now() }], bootstrapProvenAt: Date.now() }));
        temporary[login] = temporaryPassword!;
        if (login.endsWith('a')) victims.push({ id: account.id, login });
      }
      const tempA = await interaction('csrf-temp-a', temporary['csrf-temp-a']);
      const tempB = await interaction('csrf-temp-b', temporary['csrf-temp-b']);
      add('stage new-password', tempA, tempB, 'new-password', { password: 'a-brand-new-passphrase', confirm: 'a-brand-new-passphrase' });
      // A password found in the breach corpus must be replaced at sign-in: its own stage and form.
      for (const login of ['csrf-breach-a', 'csrf-breach-b']) {
        const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD });
        const passwordHash = await t.services.hasher.hash(BREACHED_PASSWORD);
        await t.services.accounts.update(account.id, (a) => ({ ...a, passwordHash, methods: [{ id: `e-${login}`, kind: 'email', address: `${login}@example.org`, registeredAt: Date.now(), confirmedAt: Date.now() }], bootstrapProvenAt: Date.now() }));
        if (login.endsWith('a')) victims.push({ id: account.id, login });
      }
      add('stage breached-password', await interaction('csrf-breach-a', BREACHED_PASSWORD), await interaction('csrf-breach-b', BREACHED_PASSWORD), 'breached-password', { password: 'a-brand-new-passphrase', confirm: 'a-brand-new-passphrase' });
      const bootA = await t.services.accounts.create({ login: 'csrf-boot-a', email: 'csrf-boot-a@example.com', password: PASSWORD });
      await t.services.accounts.create({ login: 'csrf-boot-b', email: 'csrf-boot-b@example.com', password: PASSWORD });
      victims.push({ id: bootA.account.id, login: 'csrf-boot-a' });
      const mails = smtp.messages.length;
      const bA = await interaction('csrf-boot-a');
      const bootCode = codeIn(await smtp.waitFor((m) => m.to.includes('csrf-boot-a@example.com') && smtp.messages.indexOf(m) >= mails), 8);
      add('stage bootstrap', bA, await interaction('csrf-boot-b'), 'bootstrap', { action: 'code', code: bootCode });
      const adminA = await victim('csrf-admin-a', ['authenticator_app', 'recovery_codes'], true);
      const adminB = await victim('csrf-admin-b', ['authenticator_app', 'recovery_codes'], true);
      const sfA = await interaction(adminA.login);
      const sfB = await interaction(adminB.login);
      assert.match(sfA.page.text, /Confirm it is you/);
      const sfProof = { browser: sfA.browser, page: await sfA.browser.submit(sfA.page, formAction(sfA.page.text, '/second-factor'), { action: 'choose', ref: factorRef(sfA.page.text, 'Authenticator app') }) };
      add('stage second-factor', sfProof, sfB, 'second-factor', { action: 'finish', code: await totpNow(adminA.totp!) });
      for (const login of ['csrf-reg-a', 'csrf-reg-b']) {
        const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD });
        await t.services.accounts.update(account.id, (a) => ({ ...a, bootstrapProvenAt: Date.now() }));
        if (login.endsWith('a')) victims.push({ id: account.id, login });
      }
      const regA = await interaction('csrf-reg-a');
      const regCodes = { browser: regA.browser, page: await regA.browser.submit(regA.page, formAction(regA.page.text, '/register'), { action: 'choose', kind: 'recovery_codes' }) };
      add('stage register', regCodes, await interaction('csrf-reg-b'), 'register', { action: 'finish', saved: 'yes' });
      const aged = Date.now() - 60 * 24 * 3600 * 1000;
      for (const login of ['csrf-old-a', 'csrf-old-b']) {
        const s = await victim(login, ['email']);
        await t.services.accounts.update(s.id, (a) => ({ ...a, methods: (a.methods as { confirmedAt: number }[]).map((m) => ({ ...m, confirmedAt: aged, registeredAt: aged })) }));
      }
      const oldA = await interaction('csrf-old-a');
      assert.match(oldA.page.text, /Are these still right/);
      add('stage reconfirm', oldA, await interaction('csrf-old-b'), 'reconfirm', { action: 'confirm' });
      // Consent (third-party client).
      const third = await RelyingParty.discover(t.url, t.redirectUri, 'third-party', 'test-rp-secret-that-is-long-enough-0123456789-3p');
      const consentPage = async (login: string) => {
        const browser = new Browser(t.url);
        const signin = await browser.open((await third.start()).url.toString(), t.redirectUri);
        return { browser, page: await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password: PASSWORD }, t.redirectUri) };
      };
      const cA = await victim('csrf-consent-a', ['email']);
      const cB = await victim('csrf-consent-b', ['email']);
      add('consent', await consentPage(cA.login), await consentPage(cB.login), 'consent', {});

      // Reset, invitation, admin sign-out: double-submit tokens.
      const rs = await victim('csrf-reset', ['authenticator_app']);
      const r1 = new Browser(t.url);
      const r2 = new Browser(t.url);
      await r1.open('/reset');
      const start2 = await r2.open('/reset');
      forms.set('/reset', { path: '/reset', browser: r1, fields: { identifier: rs.login }, foreign: hiddenValue(start2.text, 'csrf') });
      const f1 = new Browser(t.url);
      const c1 = await startResetPage(f1, rs.login);
      const f2 = new Browser(t.url);
      const c2 = await startResetPage(f2, rs.login);
      forms.set('/reset/flow', { path: '/reset/flow', browser: f1, fields: { action: 'choose', ref: resetRef(c1.text, 'Authenticator app') }, foreign: hiddenValue(c2.text, 'csrf') });
      const cont1 = new Browser(t.url);
      const cont2 = new Browser(t.url);
      await cont1.open('/reset/continue?flow=abcdefghijklmnop');
      const cf2 = await cont2.open('/reset/continue?flow=abcdefghijklmnop');
      forms.set('/reset/continue', { path: '/reset/continue', browser: cont1, fields: { flow: 'abcdefghijklmnop', code: 'x' }, foreign: hiddenValue(cf2.text, 'csrf') });
      const inv = await t.services.accounts.create({ login: 'csrf-invite', email: 'csrf-invite@example.com', noPassword: true });
      victims.push({ id: inv.account.id, login: 'csrf-invite' });
      const invMails = smtp.messages.length;
      await new Invitations(t.services).issue(inv.account, { actor: 'cli' });
      const invMail = await smtp.waitFor((m) => m.to.includes('csrf-invite@example.com') && smtp.messages.indexOf(m) >= invMails);
      const invCode = /(?<![a-z0-9-])[a-hjkmnp-z2-9]{5}(?:-[a-hjkmnp-z2-9]{5}){3}(?![a-z0-9-])/.exec(invMail.text)![0];
      const i1 = new Browser(t.url);
      const i2 = new Browser(t.url);
      await i1.open('/invite');
      const if2 = await i2.open('/invite');
      forms.set('/invite', { path: '/invite', browser: i1, fields: { identifier: 'csrf-invite', code: invCode, password: 'invited-and-chosen-pass', confirm: 'invited-and-chosen-pass' }, foreign: hiddenValue(if2.text, 'csrf') });
      const a1 = new Browser(t.url);
      const a2 = new Browser(t.url);
      await a1.agent.get('/admin');
      await a2.agent.get('/admin');
      // The dashboard's token comes with its pages; without a session, the sign-out form's token is read from the cookie the browser got.
      forms.set('/admin/logout', { path: '/admin/logout', browser: a1, fields: {}, foreign: 'not-the-token-of-this-browser' });

      // My security info (with a recent proof, so every handler would act) and change password.
      const acct = async (login: string) => {
        const s = await victim(login, ['email', 'recovery_codes']);
        const { browser } = await signIn(s.login);
        const start = await browser.open('/account/security');
        const pick = await browser.submit(start, '/account/security/password', { password: PASSWORD });
        const methodId = /name="methodId" id="method-[^"]+" value="([^"]+)"/.exec(pick.text)![1]!;
        const before = smtp.messages.length;
        const codePage = await browser.submit(pick, '/account/security/verify', { action: 'start', methodId });
        const code = codeIn(await smtp.waitFor((m) => m.to.includes(s.email!) && smtp.messages.indexOf(m) >= before), 8);
        const manage = await browser.submit(codePage, '/account/security/verify', { action: 'finish', code });
        assert.match(manage.text, /Your methods/);
        const change = await browser.open('/account/password');
        return { s, browser, manage, change, methodId };
      };
      const A = await acct('csrf-acct-a');
      const B = await acct('csrf-acct-b');
      const foreign = hiddenValue(B.manage.text, 'csrf');
      for (const [path, fields] of [
        ['/account/security/password', { password: PASSWORD }],
        ['/account/security/verify', { action: 'start', methodId: A.methodId }],
        ['/account/security/add', { action: 'open' }],
        ['/account/security/remove', { methodId: A.methodId }],
        ['/account/security/regenerate', {}],
        ['/account/security/codes-saved', { saved: 'yes' }],
        ['/account/security/devices/forget', { deviceId: 'x' }],
        ['/account/security/devices/forget-all', {}],
        ['/account/security/sessions/end', { session: 'x' }],
        ['/account/security/sessions/end-others', {}],
      ] as const) {
        forms.set(path, { path, browser: A.browser, fields: { ...fields }, foreign });
      }
      forms.set('/account/password', { path: '/account/password', browser: A.browser, fields: { current: PASSWORD, password: 'changed-by-a-forged-form', confirm: 'changed-by-a-forged-form' }, foreign: hiddenValue(B.change.text, 'csrf') });

      snapshots = new Map(await Promise.all(victims.map(async (v) => [v.id, JSON.stringify(await t.services.accounts.get(v.id))] as const)));
    });

    for (const name of [
      'stage password',
      'stage new-password',
      'stage breached-password',
      'stage bootstrap',
      'stage second-factor',
      'stage register',
      'stage reconfirm',
      'consent',
      'abort',
      '/reset',
      '/reset/flow',
      '/reset/continue',
      '/invite',
      '/admin/logout',
      '/account/security/password',
      '/account/security/verify',
      '/account/security/add',
      '/account/security/remove',
      '/account/security/regenerate',
      '/account/security/codes-saved',
      '/account/security/devices/forget',
      '/account/security/devices/forget-all',
      '/account/security/sessions/end',
      '/account/security/sessions/end-others',
      '/account/password',
    ]) {
      it(`${name}: a missing, empty, foreign or doubled token gets 403 and changes nothing`, async () => {
        const form = forms.get(name)!;
        for (const [what, token] of [['missing', undefined], ['empty', ''], ['foreign', form.foreign], ['doubled', [form.foreign, form.foreign]]] as const) {
          let req = form.browser.agent.post(form.path).type('form');
          const fields: Record<string, unknown> = { ...form.fields, ...(token === undefined ? {} : { csrf: token }) };
          req = req.send(new URLSearchParams(Object.entries(fields).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, String(v)]]))).toString());
          const res = await req.redirects(0);
          assert.equal(res.status, 403, `${name} with a ${what} token: ${res.status} ${res.text.slice(0, 200)}`);
          assert.match(res.text, /The form expired or was sent from elsewhere/);
        }
      });
    }

    it('afterwards: no account changed, nothing succeeded; the JSON API ignores cookies altogether', async () => {
      for (const v of victims) assert.equal(JSON.stringify(await t.services.accounts.get(v.id)), snapshots.get(v.id), `${v.login} unchanged`);
      const ids = new Set(victims.map((v) => v.id));
      const done = (await auditOf(t)).filter((e) => e.at >= startedAt && e.accountId && ids.has(e.accountId) && e.outcome === 'success');
      const allowed = new Set(['signin.password', 'signin.completed', 'security_info.password', 'security_info.proven', 'code.sent', 'reset.started', 'invite.sent', 'second_factor.succeeded']);
      assert.deepEqual(done.filter((e) => !allowed.has(e.type)).map((e) => `${e.type} ${e.accountId}`), []);
      // A browser's cookies mean nothing to the API: without the bearer secret, 401.
      const f = forms.get('/reset/flow')!;
      const res = await f.browser.agent.get('/api/v1/resets/abcdefghijklmnop').set('Accept', 'application/json');
      assert.equal(res.status, 401);
    });
  });

  describe('session fixation', () => {
    const cookie = (browser: Browser, name: string) => browser.agent.jar.getCookie(name, { domain: '127.0.0.1', path: '/', secure: false, script: false });
    const cookieAt = (browser: Browser, name: string, path: string) => browser.agent.jar.getCookie(name, { domain: '127.0.0.1', path, secure: false, script: false })?.value;

    it('the session cookie and the interaction cookies change at sign-in', async () => {
      const s = await seedAccount(t, 'fix-a', ['email']);
      const other = await seedAccount(t, 'fix-other', ['email']);
      // A session of another user in this browser first: sign-in as s must replace it.
      const { browser } = await signIn(other.login);
      const before = cookie(browser, '_session')?.value;
      assert.ok(before, 'a session cookie exists');
      const flow = await rp.start({ prompt: 'login' });
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      const interactionPath = new URL(signin.url).pathname;
      const interactionBefore = cookieAt(browser, '_interaction', interactionPath);
      assert.ok(interactionBefore, 'the sign-in has an interaction cookie');
      const done = await passwordAndOn(browser, signin, s.login);
      assert.ok(done.location?.startsWith(t.redirectUri), `${done.status} ${done.url} ${done.text.replace(/<head>[\s\S]*<\/head>/, "").slice(0, 600)}`);
      await rp.finish(flow, done.location!);
      const after = cookie(browser, '_session')?.value;
      assert.ok(after && after !== before, 'a new session id at sign-in');
      // The finished interaction is gone: its cookie opens nothing.
      const stale = await browser.get(interactionPath);
      assert.ok(stale.status >= 400 && stale.status < 500, `the finished interaction: ${stale.status}`);
      // The next sign-in gets another interaction, and the session stays the one made at sign-in.
      const next = await browser.open((await rp.start({ prompt: 'login' })).url.toString(), t.redirectUri);
      assert.notEqual(cookieAt(browser, '_interaction', new URL(next.url).pathname), interactionBefore);
      assert.equal(await sessionOwner(browser), s.id);
    });

    it('a session cookie planted from another browser never becomes the victim\'s session', async () => {
      const victimAccount = await seedAccount(t, 'fix-victim', ['email']);
      const attackerAccount = await seedAccount(t, 'fix-attacker', ['email']);
      // The attacker's own signed-in session, and an anonymous one from a started sign-in.
      const attacker = (await signIn(attackerAccount.login)).browser;
      const anonymous = new Browser(t.url);
      await anonymous.open((await rp.start()).url.toString(), t.redirectUri);
      for (const source of [attacker, anonymous]) {
        const planted = ['_session', '_session.sig'].map((n) => cookie(source, n)).filter((c) => c !== undefined);
        const victim = new Browser(t.url);
        for (const c of planted) victim.agent.jar.setCookie(`${c!.name}=${c!.value}; Path=/`, '127.0.0.1', '/');
        const before = cookie(victim, '_session')?.value;
        const flow = await rp.start({ prompt: 'login' });
        const signin = await victim.open(flow.url.toString(), t.redirectUri);
        const done = await passwordAndOn(victim, signin, victimAccount.login);
        assert.equal((await rp.finish(flow, done.location!)).claims()!.sub, victimAccount.id);
        const after = cookie(victim, '_session')?.value;
        if (before) assert.notEqual(after, before, 'the planted session id is replaced');
        const owner = await sessionOwner(source);
        assert.notEqual(owner, victimAccount.id, 'the planting browser did not get the victim\'s session');
      }
    });
  });
});
