/**
 * Security keys (WebAuthn, ASVS 6.3.7) through the real pages, with a software authenticator
 * answering as a browser would: registration at sign-in, the second factor at sign-in (amr
 * `hwk` + `mfa`), a reset proof (pages and JSON API), removal in My security info; and what is
 * refused and audited: another origin (phishing), another challenge, a replayed assertion, a
 * signature counter going backwards (a cloned key).
 */
import assert from 'node:assert/strict';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty, type RpFlow } from '../support/rp.ts';
import { SoftwareAuthenticator, webauthnOptionsIn } from '../support/software-authenticator.ts';
import { resetRef, startResetPage } from '../reliability/helpers.ts';
import type { SecurityKeyMethod } from '../../src/domain/methods/types.ts';
import { methodsOf } from '../../src/domain/policy.ts';
import { ACR_MFA } from '../../src/provider/acr.ts';

const PASSWORD = 'silver-otter-hums-quietly';
const POLICY = { SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app,recovery_codes,security_key', SSPR_METHODS_REQUIRED: '1', TWO_FACTOR: 'all' };

/** The ref of the second-factor chooser's option labelled `label`. */
function refFor(html: string, label: string): string {
  const m = new RegExp(`id="ref-([^"]+)" value="\\1"[^>]*>\\s*<label for="ref-\\1">${label}`).exec(html);
  if (!m) throw new Error(`no "${label}" option in page:\n${html.slice(0, 2000)}`);
  return m[1]!;
}

for (const backend of BACKENDS) {
  describe(`security keys (WebAuthn) on ${backend}`, function () {
    this.timeout(60_000);
    let t: TestApp;
    let rp: RelyingParty;

    before(async () => {
      t = await startTestApp(POLICY, {}, backend);
      rp = await RelyingParty.discover(t.url, t.redirectUri);
    });
    after(async () => {
      await t?.close();
    });

    /** An account past its bootstrap proof, with only `email` if asked (else nothing registered). */
    async function seed(login: string, withEmail = false): Promise<string> {
      const { account } = await t.services.accounts.create({ login, email: `${login}@example.com`, password: PASSWORD });
      const now = t.services.clock();
      const methods = withEmail ? [{ id: `e-${login}`, kind: 'email' as const, address: `${login}.home@example.org`, registeredAt: now, confirmedAt: now }] : [];
      await t.services.accounts.update(account.id, (a) => ({ ...a, methods, bootstrapProvenAt: now }));
      return account.id;
    }

    async function password(browser: Browser, login: string): Promise<{ flow: RpFlow; page: Page }> {
      const flow = await rp.start();
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password: PASSWORD }, t.redirectUri);
      return { flow, page };
    }

    async function claims(flow: RpFlow, done: Page) {
      assert.ok(done.location?.startsWith(t.redirectUri), `sign-in finishes at the RP: ${done.status} ${done.text.slice(0, 600)}`);
      return (await rp.finish(flow, done.location!)).claims()!;
    }

    const keyOf = async (id: string): Promise<SecurityKeyMethod | undefined> =>
      methodsOf((await t.services.accounts.get(id))!).find((m): m is SecurityKeyMethod => m.kind === 'security_key');

    const events = async (accountId: string, type: string) => (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === accountId && e.type === type);

    /** Registration at sign-in with a fresh software key; returns the key. */
    async function registerAtSignin(login: string, label = 'Blue key'): Promise<{ key: SoftwareAuthenticator; claims: Record<string, unknown> }> {
      const browser = new Browser(t.url);
      const { flow, page } = await password(browser, login);
      assert.match(page.text, /Security key/);
      const proof = await browser.submit(page, formAction(page.text, '/register'), { action: 'choose', kind: 'security_key' });
      assert.match(proof.text, /<script src="\/assets\/webauthn.js" defer><\/script>/);
      assert.match(proof.text, /<noscript>.*needs JavaScript/s, 'without JavaScript the page says so');
      const { mode, options } = webauthnOptionsIn(proof.text);
      assert.equal(mode, 'create');
      assert.equal(options.rp.id, '127.0.0.1', 'rpID is ISSUER\'s host');
      assert.equal(options.attestation, 'none');
      assert.equal(options.authenticatorSelection.userVerification, 'preferred');
      const key = new SoftwareAuthenticator(t.url);
      const done = await browser.submit(proof, formAction(proof.text, '/register'), { action: 'finish', label, credential: key.register(options) }, t.redirectUri);
      return { key, claims: await claims(flow, done) };
    }

    /** Sign-in up to the security key page of the second factor. */
    async function toKeyPage(login: string, browser = new Browser(t.url)): Promise<{ browser: Browser; flow: RpFlow; page: Page }> {
      const { flow, page } = await password(browser, login);
      assert.match(page.text, /<h1>Confirm it is you<\/h1>/, page.text.slice(0, 500));
      const proof = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref: refFor(page.text, 'Security key') });
      return { browser, flow, page: proof };
    }

    const submitKey = (browser: Browser, page: Page, credential: string): Promise<Page> =>
      browser.submit(page, formAction(page.text, '/second-factor'), { action: 'finish', credential }, t.redirectUri);

    it('registers a security key at sign-in: stored as credential id, COSE public key, counter, transports, label; counts as the factor (hwk)', async () => {
      const id = await seed('sk-reg');
      const { key, claims: c } = await registerAtSignin('sk-reg');
      assert.ok((c.amr as string[]).includes('hwk'), `amr ${String(c.amr)}`);
      const stored = (await keyOf(id))!;
      assert.equal(stored.credentialId, key.id);
      assert.match(stored.publicKey, /^[A-Za-z0-9_-]{70,}$/, 'COSE key, base64url');
      assert.equal(stored.counter, 0);
      assert.deepEqual(stored.transports, ['usb']);
      assert.equal(stored.label, 'Blue key');
      assert.ok(stored.registeredAt > 0 && stored.confirmedAt === stored.registeredAt);
      assert.ok((await events(id, 'method.registered')).some((e) => e.details?.kind === 'security_key'));
    });

    it('refuses a registration made for another origin or challenge, and audits it', async () => {
      const id = await seed('sk-reg-bad');
      const browser = new Browser(t.url);
      const { page } = await password(browser, 'sk-reg-bad');
      const proof = await browser.submit(page, formAction(page.text, '/register'), { action: 'choose', kind: 'security_key' });
      const { options } = webauthnOptionsIn(proof.text);
      const key = new SoftwareAuthenticator(t.url);
      const refused = await browser.submit(proof, formAction(proof.text, '/register'), { action: 'finish', credential: key.register(options, { origin: 'https://rekey.example.evil' }) });
      assert.equal(refused.status, 400);
      assert.match(refused.text, /The security key could not be verified/);
      assert.equal(await keyOf(id), undefined, 'nothing stored');
      // The challenge died with the failure: the same response again is no better.
      const again = await browser.submit(refused, formAction(refused.text, '/register'), { action: 'finish', credential: key.register(options) });
      assert.equal(again.status, 400);
      assert.equal(await keyOf(id), undefined);
      const failed = await events(id, 'method.registration_failed');
      assert.ok(failed.some((e) => e.reason === 'security_key_failed' && e.details?.kind === 'security_key'));
    });

    it('signs in with the security key as the second factor: amr hwk + mfa, acr mfa; the counter moves on', async () => {
      const id = await seed('sk-2fa');
      const { key } = await registerAtSignin('sk-2fa');
      const { browser, flow, page } = await toKeyPage('sk-2fa');
      const { mode, options } = webauthnOptionsIn(page.text);
      assert.equal(mode, 'get');
      assert.equal(options.rpId, '127.0.0.1');
      assert.equal(options.userVerification, 'preferred');
      assert.deepEqual(options.allowCredentials.map((c: { id: string }) => c.id), [key.id]);
      const c = await claims(flow, await submitKey(browser, page, key.assert(options, { counter: 5 })));
      assert.deepEqual([...(c.amr as string[])].sort(), ['hwk', 'mfa', 'pwd']);
      assert.equal(c.acr, ACR_MFA);
      assert.equal((await keyOf(id))!.counter, 5);
      assert.ok((await events(id, 'second_factor.succeeded')).some((e) => e.details?.kind === 'security_key'));
    });

    it('refuses another origin, another challenge, a replayed assertion and a counter going backwards; each is audited', async () => {
      const id = await seed('sk-bad');
      const { key } = await registerAtSignin('sk-bad');
      // A good sign-in first, to have an assertion to replay.
      const first = await toKeyPage('sk-bad');
      const firstOptions = webauthnOptionsIn(first.page.text).options;
      const used = key.assert(firstOptions, { counter: 10 });
      await claims(first.flow, await submitKey(first.browser, first.page, used));

      const attempt = async (make: (options: Record<string, any>) => string): Promise<Page> => {
        const { browser, page } = await toKeyPage('sk-bad');
        const refused = await submitKey(browser, page, make(webauthnOptionsIn(page.text).options));
        assert.equal(refused.status, 400, refused.text.slice(0, 300));
        assert.equal(refused.location, undefined, 'not signed in');
        return refused;
      };
      const phished = await attempt((o) => key.assert(o, { origin: 'https://rekey.example.evil', counter: 11 }));
      assert.match(phished.text, /The security key could not be verified/);
      await attempt((o) => key.assert({ ...o, challenge: Buffer.from('not-the-challenge').toString('base64url') }, { counter: 12 }));
      await attempt(() => used);
      const cloned = await attempt((o) => key.assert(o, { counter: 3 }));
      assert.match(cloned.text, /it may have been copied/);
      assert.equal((await keyOf(id))!.counter, 10, 'no refused response moved the counter');

      const reasons = (await events(id, 'second_factor.failed')).filter((e) => e.details?.kind === 'security_key').map((e) => e.reason);
      assert.deepEqual(reasons.sort(), ['security_key_cloned', 'security_key_failed', 'security_key_failed', 'security_key_failed']);
    });

    it('proves a reset with the security key (a strong proof), on the pages and through the JSON API', async () => {
      const id = await seed('sk-reset', true);
      const { key } = await registerAtSignin('sk-reset');
      // Pages.
      const browser = new Browser(t.url);
      const choose = await startResetPage(browser, 'sk-reset');
      assert.doesNotMatch(choose.text, /Blue key/, 'the key\'s own name is not shown before a proof');
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, 'Security key') });
      const { mode, options } = webauthnOptionsIn(prove.text);
      assert.equal(mode, 'get');
      const wrong = await browser.submit(prove, '/reset/flow', { action: 'finish', credential: key.assert(options, { origin: 'https://rekey.example.evil', counter: 20 }) });
      assert.equal(wrong.status, 400);
      assert.ok((await events(id, 'reset.proof_failed')).some((e) => e.reason === 'security_key_failed' && e.details?.kind === 'security_key'));
      const again = await browser.submit(wrong, '/reset/flow', { action: 'choose', ref: resetRef(wrong.text, 'Security key') });
      const done = await browser.submit(again, '/reset/flow', { action: 'finish', credential: key.assert(webauthnOptionsIn(again.text).options, { counter: 21 }) });
      assert.equal(done.status, 200);
      assert.match(done.text, /type="password"/, 'one strong proof: on to the new password');
      assert.equal((await keyOf(id))!.counter, 21);

      // JSON API: the options in the step, the assertion posted back.
      const api = new Browser(t.url);
      const started = await api.agent.post('/api/v1/resets').send({ identifier: 'sk-reset' });
      assert.equal(started.status, 201, started.text);
      const { flow, secret } = started.body as { flow: string; secret: string; methods: { ref: string; kind: string }[] };
      const ref = (started.body.methods as { ref: string; kind: string }[]).find((m) => m.kind === 'security_key')!.ref;
      const auth = { Authorization: `Bearer ${secret}` };
      const chosen = await api.agent.post(`/api/v1/resets/${flow}/choose`).set(auth).send({ ref });
      assert.equal(chosen.status, 200, chosen.text);
      const request = chosen.body.current.webauthn as Record<string, any>;
      assert.equal(request.rpId, '127.0.0.1');
      const stale = await api.agent.post(`/api/v1/resets/${flow}/prove`).set(auth).send({ credential: key.assert(request, { counter: 21 }) });
      assert.equal(stale.status, 400);
      assert.equal(stale.body.error, 'security_key_cloned', 'a counter that does not go up is refused');
      const rechosen = await api.agent.post(`/api/v1/resets/${flow}/choose`).set(auth).send({ ref });
      const proven = await api.agent.post(`/api/v1/resets/${flow}/prove`).set(auth).send({ credential: key.assert(rechosen.body.current.webauthn, { counter: 22 }) });
      assert.equal(proven.status, 200, proven.text);
      assert.equal(proven.body.state, 'new_password');
    });

    it('a reset for an unknown identifier may offer a decoy security key that asks for a signature like a real one and never verifies', async () => {
      let found: { browser: Browser; page: Page } | undefined;
      for (let i = 0; i < 30 && !found; i += 1) {
        const browser = new Browser(t.url);
        const page = await startResetPage(browser, `nobody-${i}@example.com`);
        if (/<label[^>]*>Security key/.test(page.text)) found = { browser, page };
      }
      assert.ok(found, 'some decoys offer a security key');
      const prove = await found.browser.submit(found.page, '/reset/flow', { action: 'choose', ref: resetRef(found.page.text, 'Security key') });
      const { mode, options } = webauthnOptionsIn(prove.text);
      assert.equal(mode, 'get');
      assert.equal(options.rpId, '127.0.0.1');
      assert.equal(options.allowCredentials.length, 1);
      const refused = await found.browser.submit(prove, '/reset/flow', { action: 'finish', credential: new SoftwareAuthenticator(t.url).assert(options) });
      assert.equal(refused.status, 400);
      assert.match(refused.text, /The security key could not be verified/);
    });

    it('removes the security key in My security info after a proof with it, and adds another with "Add a method"; audited', async () => {
      const id = await seed('sk-remove', true);
      const { key } = await registerAtSignin('sk-remove');
      // Sign in (the key as second factor), then My security info: password, then the key.
      const { browser, flow, page } = await toKeyPage('sk-remove');
      await claims(flow, await submitKey(browser, page, key.assert(webauthnOptionsIn(page.text).options, { counter: 1 })));
      const start = await browser.open('/account/security');
      const pick = await browser.submit(start, '/account/security/password', { password: PASSWORD });
      const keyId = (await keyOf(id))!.id;
      const proof = await browser.submit(pick, '/account/security/verify', { action: 'start', methodId: keyId });
      const manage = await browser.submit(proof, '/account/security/verify', { action: 'finish', credential: key.assert(webauthnOptionsIn(proof.text).options, { counter: 2 }) });
      assert.equal(manage.status, 200, manage.text.slice(0, 500));
      assert.match(manage.text, /Your methods/);
      assert.match(manage.text, /<strong>Security key<\/strong>: Blue key/);
      const removed = await browser.submit(manage, '/account/security/remove', { methodId: keyId });
      assert.equal(removed.status, 200, removed.text.slice(0, 500));
      assert.equal(await keyOf(id), undefined, 'the key is gone');
      assert.ok((await events(id, 'method.removed')).some((e) => e.outcome === 'success' && e.details?.kind === 'security_key'));

      // "Add a method": a new key, named by the user.
      const opened = await browser.submit(removed, '/account/security/add', { action: 'open' });
      const create = await browser.submit(opened, '/account/security/add', { action: 'choose', kind: 'security_key' });
      const spare = new SoftwareAuthenticator(t.url);
      const added = await browser.submit(create, '/account/security/add', { action: 'finish', label: 'Spare key', credential: spare.register(webauthnOptionsIn(create.text).options) });
      assert.equal(added.status, 200, added.text.slice(0, 500));
      assert.match(added.text, /<strong>Security key<\/strong>: Spare key/);
      assert.equal((await keyOf(id))!.credentialId, spare.id);
      assert.ok((await events(id, 'method.registered')).some((e) => e.details?.kind === 'security_key' && e.details?.via === 'security_info'));
    });
  });
}
