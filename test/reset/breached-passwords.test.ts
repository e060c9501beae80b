/**
 * ASVS 5.0 6.2.12: with BREACHED_PASSWORDS_FILE (a Pwned Passwords SHA-1 file, here a small one
 * generated in a temp folder) a new password found in it is refused wherever a password is set
 * — change password, the reset's new password (JSON API), the first password of an invitation,
 * the new password a temporary one requires, an account created with a chosen password — with
 * one message that does not say how often, and nothing changes. Passwords seen fewer than
 * BREACHED_PASSWORDS_MIN_COUNT times, and strong unlisted ones, are accepted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { BACKENDS, startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { seedWithMethods } from '../support/seed.ts';
import { totpNow } from '../support/totp.ts';
import { entryFor, writeCorpus } from '../support/breach-corpus.ts';
import { Invitations } from '../../src/domain/invitations.ts';
import { PasswordRules } from '../../src/domain/password-rules.ts';
import { InvalidInput } from '../../src/errors.ts';
import { t as say, withLocale } from '../../src/i18n/index.ts';

const OLD = 'copper-finch-sings-early';
/** Listed 12 times: refused. */
const BREACHED = 'tangerine-otter-lullaby-9';
/** Listed twice, below BREACHED_PASSWORDS_MIN_COUNT=3: accepted. */
const RARE = 'mossy-lantern-quartz-seven';
const STRONG = 'violet-harbour-kites-drift';
const MESSAGE = /This password has appeared in a data breach\. Choose a different one\./;
const backend = BACKENDS[0] ?? 'sqlite';

describe(`breached passwords are refused wherever a password is set (on ${backend})`, function () {
  this.timeout(60_000);
  let dir: string;
  let t: TestApp;
  let rp: RelyingParty;
  let ips = 0;
  const newIp = (): string => `10.88.0.${(ips += 1)}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-breached-'));
    const file = join(dir, 'pwned-passwords-sha1-ordered-by-hash.txt');
    writeCorpus(file, [entryFor(BREACHED, 12), entryFor(RARE, 2)], { filler: 2000 });
    t = await startTestApp(
      {
        // Only the reset's account is in scope: the others sign in without registering methods.
        SSPR_SCOPE: 'groups',
        SSPR_GROUPS: 'resetters',
        SSPR_METHODS: 'email,authenticator_app,recovery_codes',
        // Admins sign in with a second factor: the sign-in tests below need both kinds.
        TWO_FACTOR: 'admins',
        TRUST_PROXY_HOPS: '1',
        BREACHED_PASSWORDS_FILE: file,
        BREACHED_PASSWORDS_MIN_COUNT: '3',
      },
      {},
      backend,
    );
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const events = async (id: string, type: string) => (await t.services.audit.recent({ limit: 500 })).filter((e) => e.accountId === id && e.type === type);
  const works = async (login: string, password: string): Promise<boolean> => (await t.services.accounts.authenticate(login, password, newIp())).outcome === 'ok';

  it('says so in English and German, without saying how often', function () {
    assert.match(say('password_breached'), MESSAGE);
    assert.equal(withLocale('de', () => say('password_breached')), 'Dieses Passwort ist bei einem Datenleck bekannt geworden. Wählen Sie ein anderes.');
    assert.doesNotMatch(say('password_breached'), /\d/);
  });

  it('change password (/account/password): refused with the message, nothing changes, audited; a strong one is accepted', async () => {
    const { account } = await t.services.accounts.create({ login: 'cleo', email: 'cleo@example.com', password: OLD });
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const signedIn = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'cleo', password: OLD }, t.redirectUri);
    assert.ok(signedIn.location?.startsWith(t.redirectUri), signedIn.text.slice(0, 300));
    const form = await browser.open('/account/password');
    assert.equal(form.status, 200);
    const before = await t.services.accounts.get(account.id);

    const refused = await browser.submit(form, '/account/password', { current: OLD, password: BREACHED, confirm: BREACHED });
    assert.equal(refused.status, 400);
    assert.match(refused.text, new RegExp(`id="password-error"[^>]*>${MESSAGE.source}`));
    assert.deepEqual(await t.services.accounts.get(account.id), before, 'nothing changed');
    assert.ok(await works('cleo', OLD));
    assert.deepEqual((await events(account.id, 'password.changed')).map((e) => [e.outcome, e.reason]), [['failure', 'password_breached']]);

    const done = await browser.submit(refused, '/account/password', { current: OLD, password: STRONG, confirm: STRONG });
    assert.equal(done.status, 200, done.text.slice(0, 400));
    assert.ok(await works('cleo', STRONG));
  });

  it('reset through the JSON API: the breached new password is refused (400 password_breached) and the old one stays; a strong one commits', async () => {
    const ip = newIp();
    const { id, totp } = await seedWithMethods(t.services, 'rhea', OLD);
    await t.services.accounts.update(id, (a) => ({ ...a, groups: ['resetters'] }));
    const api = (path: string, body?: unknown, secret?: string) => {
      const req = request(t.url).post(path).set('X-Forwarded-For', ip).set('Accept', 'application/json');
      if (secret) req.set('Authorization', `Bearer ${secret}`);
      return body === undefined ? req : req.set('Content-Type', 'application/json').send(JSON.stringify(body));
    };
    const started = await api('/api/v1/resets', { identifier: 'rhea' });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const { flow, secret } = started.body as { flow: string; secret: string };
    const app = (started.body.methods as { ref: string; kind: string }[]).find((m) => m.kind === 'authenticator_app')!.ref;
    assert.equal((await api(`/api/v1/resets/${flow}/choose`, { ref: app }, secret)).status, 200);
    const proved = await api(`/api/v1/resets/${flow}/prove`, { code: await totpNow(totp) }, secret);
    assert.equal(proved.body.state, 'new_password', JSON.stringify(proved.body));
    const before = await t.services.accounts.get(id);

    const refused = await api(`/api/v1/resets/${flow}/password`, { password: BREACHED, confirm: BREACHED }, secret);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'password_breached');
    assert.equal(refused.body.field, 'password');
    assert.match(String(refused.body.message), MESSAGE);
    assert.deepEqual(await t.services.accounts.get(id), before, 'nothing changed');
    assert.ok(await works('rhea', OLD));

    const done = await api(`/api/v1/resets/${flow}/password`, { password: STRONG, confirm: STRONG }, secret);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.state, 'done');
    assert.ok(await works('rhea', STRONG));
  });

  it('first password of an invitation: refused with the message, no password set, the code still works for a strong one', async () => {
    const { account } = await t.services.accounts.create({ login: 'iris', email: 'iris@example.com', noPassword: true });
    await new Invitations(t.services).issue(account, { actor: 'cli' });
    const mail = (await t.services.outbox!.list()).find((m) => m.to === 'iris@example.com' && /invitation/i.test(m.subject ?? ''));
    const code = /(?<![a-z0-9-])[a-hjkmnp-z2-9]{5}(?:-[a-hjkmnp-z2-9]{5}){3}(?![a-z0-9-])/.exec(mail?.text ?? '')?.[0];
    assert.ok(code, 'the invitation code');
    const browser = new Browser(t.url);
    const form = await browser.get('/invite');
    const post = (password: string) => browser.post('/invite', { csrf: hiddenValue(form.text, 'csrf'), identifier: 'iris', code, password, confirm: password });

    const refused = await post(BREACHED);
    assert.equal(refused.status, 400);
    assert.match(refused.text, new RegExp(`id="password-error">${MESSAGE.source}`));
    assert.equal((await t.services.accounts.get(account.id))!.passwordHash, undefined, 'no password set');

    const done = await post(STRONG);
    assert.equal(done.status, 200, done.text.slice(0, 400));
    assert.ok(await works('iris', STRONG));
  });

  it('the new password a temporary one requires at sign-in: refused with the message, still temporary; a strong one finishes the sign-in', async () => {
    const { account, temporaryPassword } = await t.services.accounts.create({ login: 'tess', email: 'tess@example.com' });
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const change = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: 'tess', password: temporaryPassword! }, t.redirectUri);
    assert.match(change.text, /Choose a new password/);
    const refused = await browser.submit(change, formAction(change.text, '/new-password'), { password: BREACHED, confirm: BREACHED }, t.redirectUri);
    assert.equal(refused.status, 400);
    assert.match(refused.text, MESSAGE);
    assert.equal((await t.services.accounts.get(account.id))!.mustChangePassword, true, 'nothing changed');
    assert.ok(await works('tess', temporaryPassword!));
    const done = await browser.submit(refused, formAction(refused.text, '/new-password'), { password: STRONG, confirm: STRONG }, t.redirectUri);
    assert.ok(done.location?.startsWith(t.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
  });

  it('an account created with a chosen password (the CLI\'s users create --password-stdin) is refused with password_breached', async () => {
    await assert.rejects(
      t.services.accounts.create({ login: 'cato', email: 'cato@example.com', password: BREACHED }),
      (e: unknown) => e instanceof InvalidInput && e.details.problem === 'password_breached',
    );
    assert.equal(await t.services.accounts.get('cato'), undefined);
    assert.equal(await t.services.store.accounts.findByLogin('cato'), undefined, 'no account');
  });

  it('BREACHED_PASSWORDS_MIN_COUNT: a password listed fewer times than the minimum is accepted', async () => {
    const { account } = await t.services.accounts.create({ login: 'mina', email: 'mina@example.com', password: OLD });
    assert.equal(await t.services.accounts.changePassword(account.id, BREACHED, { signOutEverywhere: false }), 'password_breached');
    assert.equal(await t.services.accounts.changePassword(account.id, RARE, { signOutEverywhere: false }), undefined);
    assert.ok(await works('mina', RARE));
  });

  describe('at sign-in, a verified password found in the corpus must be replaced (ASVS 6.2.10)', function () {
    const LEAD = /Your password has appeared in a data breach, so others may know it\. Choose a new password to continue\./;

    /** An account whose current password is `password` (set around the rules, as an old password would be). */
    async function withPassword(login: string, password: string, admin = false): Promise<{ id: string; totp: string }> {
      const seeded = await seedWithMethods(t.services, login, OLD, admin);
      const hash = await t.services.hasher.hash(password);
      await t.services.accounts.update(seeded.id, (a) => ({ ...a, passwordHash: hash }));
      return seeded;
    }

    const hiddenRef = (html: string): string => /name="ref" id="ref-\w+" value="([^"]+)"/.exec(html)?.[1] ?? assert.fail('no method to choose');

    async function signIn(login: string, password: string) {
      const browser = new Browser(t.url);
      const flow = await rp.start();
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password }, t.redirectUri);
      return { browser, flow, page };
    }

    it('asks for a new password before finishing, refuses another breached one, then signs in; audited', async () => {
      const { id } = await withPassword('bram', BREACHED);
      const { browser, flow, page } = await signIn('bram', BREACHED);
      assert.equal(page.status, 200, `${page.status} ${page.location ?? ''}`);
      assert.match(page.text, LEAD);
      assert.match(page.text, /autocomplete="new-password"/);
      const signins = await events(id, 'signin.password');
      assert.equal(signins.at(-1)?.outcome, 'success');
      assert.equal(signins.at(-1)?.details?.breached, true, 'the sign-in event says the password is breached');

      const again = await browser.submit(page, formAction(page.text, '/breached-password'), { password: BREACHED, confirm: BREACHED }, t.redirectUri);
      assert.equal(again.status, 400);
      assert.match(again.text, MESSAGE);
      assert.ok(await works('bram', BREACHED), 'nothing changed');

      const done = await browser.submit(again, formAction(again.text, '/breached-password'), { password: STRONG, confirm: STRONG }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
      assert.equal((await rp.finish(flow, done.location!)).claims()!.sub, id);
      assert.ok(await works('bram', STRONG));
      assert.ok(!(await works('bram', BREACHED)), 'the breached password is gone');
      assert.deepEqual(
        (await events(id, 'password.changed')).map((e) => [e.outcome, e.reason ?? null, e.details?.via]).reverse(),
        [['failure', 'password_breached', 'breached'], ['success', null, 'breached']],
      );
    });

    it('with a second factor, the new password is asked for only after it', async () => {
      const { id, totp } = await withPassword('ada', BREACHED, true);
      const { browser, flow, page } = await signIn('ada', BREACHED);
      assert.doesNotMatch(page.text, LEAD, 'not before the second factor');
      assert.doesNotMatch(page.text, /breached-password/);
      const refused = await browser.post(`${formAction(page.text, '/second-factor').replace('/second-factor', '/breached-password')}`, {
        csrf: hiddenValue(page.text, 'csrf'),
        password: STRONG,
        confirm: STRONG,
      });
      assert.ok(refused.status === 303 || refused.status === 302, 'the stage that is not due cannot be submitted');
      assert.ok(await works('ada', BREACHED), 'the breached password alone set nothing');

      const proof = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref: hiddenRef(page.text) });
      assert.doesNotMatch(proof.text, LEAD);
      const change = await browser.submit(proof, formAction(proof.text, '/second-factor'), { action: 'finish', code: await totpNow(totp) }, t.redirectUri);
      assert.equal(change.status, 200, `${change.status} ${change.location ?? ''}`);
      assert.match(change.text, LEAD);
      const done = await browser.submit(change, formAction(change.text, '/breached-password'), { password: STRONG, confirm: STRONG }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
      const claims = (await rp.finish(flow, done.location!)).claims()!;
      assert.equal(claims.sub, id);
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    });

    it('a password listed fewer times than BREACHED_PASSWORDS_MIN_COUNT signs in straight through', async () => {
      const { id } = await withPassword('rory', RARE);
      const { page } = await signIn('rory', RARE);
      assert.ok(page.location?.startsWith(t.redirectUri), `${page.status} ${page.text.slice(0, 300)}`);
      assert.equal((await events(id, 'signin.password')).at(-1)?.details?.breached, undefined);
    });
  });

  it('without a breach corpus the same password passes the rules (the check is the setting\'s doing)', async () => {
    const rules = new PasswordRules({ minLength: 15, maxLength: 256 }, t.services.hasher);
    assert.equal(await rules.check(BREACHED, { login: 'x', emails: [], history: [] }), undefined);
    assert.equal(await t.services.accounts.rules.check(BREACHED, { login: 'x', emails: [], history: [] }), 'password_breached');
  });
});
