/**
 * Property-based fuzzing (fast-check) of every form field, every JSON API field, query
 * parameters and paths: huge, empty, control characters, lone surrogates, normalization
 * variants, bidi overrides, invalid UTF-8 bytes (percent-encoded and raw), arrays and objects
 * where strings belong, `__proto__` / `constructor` / `prototype` keys — sent urlencoded, as
 * JSON and as raw bytes, with every other field of the form valid (CSRF included) so the
 * handlers themselves are reached.
 *
 * Every answer: below 500, no stack trace or file path, our error page or the JSON error
 * shape, redirects on our origin. Nothing changes: the victim accounts are byte for byte the
 * same afterwards, and no audit event says anything succeeded. Object.prototype is not
 * polluted. Runs are bounded and seeded (see hostile.ts: FUZZ_SEED, FUZZ_RUNS).
 */
import assert from 'node:assert/strict';
import request from 'supertest';
import fc from 'fast-check';
import { totpNow } from '../support/totp.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { startSmsGateway, type SmsGateway, TEST_TWILIO, twilioEnv } from '../support/sms-gateway.ts';
import { PASSWORD, auditOf, factorRef, resetRef, seedAccount, startResetPage, type Seeded } from './helpers.ts';
import { assertNoPollution, assertSafe, body, check, describeValue, encoding, hostile, hostileString, prototypeKeys, strayKey, type Answer, type Hostile } from './hostile.ts';

/** Audit events that mean something was proven, registered or changed. */
const SUCCESSES = new Set([
  'signin.completed',
  'second_factor.succeeded',
  'bootstrap.used',
  'method.registered',
  'registration.postponed',
  'reset.proof_succeeded',
  'reset.completed',
  'password.changed',
  'invite.accepted',
  'security_info.proven',
  'method.removed',
  'recovery_codes.regenerated',
  'device.forgotten',
]);

/** One form, reached the way a browser reaches it, with valid values for every field. */
interface Target {
  name: string;
  browser: Browser;
  path: string;
  /** Valid fields (CSRF token included); one of them, or a stray key, gets a hostile value. */
  fields: () => Record<string, string>;
  /** Fields fuzzed; `action` also takes its known values so every branch is reached. */
  fuzz: string[];
  actions?: string[];
  runs: number;
}

describe('hostile input: fuzzing every form, API field, query and path', function () {
  this.timeout(300_000);
  let t: TestApp;
  let rp: RelyingParty;
  let thirdParty: RelyingParty;
  let smtp: TestSmtpServer;
  let gateway: SmsGateway;
  const victims: Seeded[] = [];
  let snapshots: Map<string, string>;
  let startedAt: number;
  let proto: string[];

  before(async () => {
    proto = prototypeKeys();
    smtp = await startSmtpServer();
    gateway = await startSmsGateway({ accountSid: TEST_TWILIO.accountSid, authToken: TEST_TWILIO.authToken, webhookSecret: 'f'.repeat(32) });
    t = await startTestApp({
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,mobile_phone,authenticator_app,security_questions,recovery_codes',
      SSPR_METHODS_REQUIRED: '1',
      SSPR_POSTPONE_LIMIT: '0',
      TWO_FACTOR: 'all',
      TWO_FACTOR_METHODS: 'email,mobile_phone,authenticator_app,recovery_codes',
      SIGNIN_LOCKOUT_THRESHOLD: '100',
      SIGNIN_MAX_CONSECUTIVE_FAILURES: '100',
      SIGNIN_IP_MAX_FAILURES: '100000',
      RESET_STARTS_PER_IP: '10000',
      RESET_MAX_FAILED_PROOFS: '20',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      ...twilioEnv(gateway),
    });
    rp = await RelyingParty.discover(t.url, t.redirectUri);
    thirdParty = await RelyingParty.discover(t.url, t.redirectUri, 'third-party', 'test-rp-secret-that-is-long-enough-0123456789-3p');
    startedAt = t.services.clock();
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
    await gateway?.stop();
  });

  async function victim(login: string, kinds: Parameters<typeof seedAccount>[2], bootstrapped = true): Promise<Seeded> {
    const s = await seedAccount(t, login, kinds);
    if (!bootstrapped) await t.services.accounts.update(s.id, (a) => { const next = { ...a }; delete next.bootstrapProvenAt; return next; });
    victims.push(s);
    return s;
  }

  /** Password, then the authenticator app: a signed-in browser (rekey session) at the RP callback. */
  async function signedIn(s: Seeded, client = rp): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser(t.url);
    const flow = await client.start();
    const signin = await browser.open(flow.url.toString(), t.redirectUri);
    const chooser = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: s.login, password: PASSWORD }, t.redirectUri);
    const proof = await browser.submit(chooser, formAction(chooser.text, '/second-factor'), { action: 'choose', ref: factorRef(chooser.text, 'Authenticator app') });
    const page = await browser.submit(proof, formAction(proof.text, '/second-factor'), { action: 'finish', code: await totpNow(s.totp!) }, t.redirectUri);
    return { browser, page };
  }

  async function send(target: Target, key: string, value: Hostile, how: 'form' | 'json' | 'raw'): Promise<Answer> {
    const b = body(target.fields(), key, value, how);
    const res = await target.browser.agent.post(target.path).set('Content-Type', b.type).set('Accept', 'text/html').serialize(asIs).send(b.data).redirects(0);
    return { status: res.status, headers: res.headers, text: res.text ?? '' };
  }

  function fuzzForm(key: string): void {
    it(`every field of the form: ${key}`, async () => {
      const tg = targets[key];
      assert.ok(tg, `target ${key} was set up`);
      const value = tg.actions ? fc.oneof(hostile, fc.constantFrom(...tg.actions).map((v): Hostile => ({ kind: 'text', value: v }))) : hostile;
      const field = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...tg.fuzz) }, { weight: 1, arbitrary: strayKey });
      const statuses: Record<number, number> = {};
      await check(tg.name, fc.tuple(field, value, encoding), async ([k, v, how]) => {
        const res = await send(tg, k, v, how);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        assertSafe(res, t.url, `${tg.name} ${how} ${k}=${describeValue(v)}`);
      }, tg.runs);
      if (process.env.FUZZ_VERBOSE) console.log(`      ${tg.name}: ${JSON.stringify(statuses)}`);
    });
  }

  const targets: Record<string, Target> = {};

  describe('forms', () => {
    before(async () => {
      // Sign-in: the password page of a fresh interaction.
      {
        const s = await victim('fz-password', ['authenticator_app']);
        const browser = new Browser(t.url);
        const page = await browser.open((await rp.start()).url.toString(), t.redirectUri);
        const path = new URL(formAction(page.text, '/password'), t.url).pathname;
        const csrf = hiddenValue(page.text, 'csrf');
        targets.password = { name: 'sign-in: password', browser, path, fields: () => ({ csrf, identifier: s.login, password: 'not-the-password-at-all' }), fuzz: ['identifier', 'password', 'csrf'], runs: 100 };
        const uid = path.split('/')[2]!;
        targets.abort = { name: 'sign-in: cancel', browser, path: `/interaction/${uid}/abort`, fields: () => ({}), fuzz: ['csrf'], runs: 50 };
      }
      // Second factor: the authenticator code page.
      {
        const s = await victim('fz-factor', ['authenticator_app', 'mobile_phone']);
        const browser = new Browser(t.url);
        const signin = await browser.open((await rp.start()).url.toString(), t.redirectUri);
        const chooser = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: s.login, password: PASSWORD });
        const proof = await browser.submit(chooser, formAction(chooser.text, '/second-factor'), { action: 'choose', ref: factorRef(chooser.text, 'Authenticator app') });
        const path = new URL(formAction(proof.text, '/second-factor'), t.url).pathname;
        const csrf = hiddenValue(proof.text, 'csrf');
        targets.factor = {
          name: 'sign-in: second factor',
          browser,
          path,
          fields: () => ({ csrf, action: 'finish', code: '000000', ref: 'f0', remember: 'yes' }),
          fuzz: ['action', 'code', 'ref', 'remember', 'csrf'],
          actions: ['finish', 'choose', 'back'],
          runs: 100,
        };
      }
      // Bootstrap proof: the code to the primary address.
      {
        const s = await victim('fz-boot', [], false);
        const browser = new Browser(t.url);
        const signin = await browser.open((await rp.start()).url.toString(), t.redirectUri);
        const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: s.login, password: PASSWORD });
        assert.match(page.text, /Confirm it is you/);
        const csrf = hiddenValue(page.text, 'csrf');
        targets.bootstrap = {
          name: 'sign-in: bootstrap proof',
          browser,
          path: new URL(formAction(page.text, '/bootstrap'), t.url).pathname,
          fields: () => ({ csrf, action: 'code', code: '00000000', pass: 'wrong-pass' }),
          fuzz: ['action', 'code', 'pass'],
          actions: ['code', 'tap'],
          runs: 80,
        };
      }
      // Registration: the chooser, the email address form, the questions form.
      for (const [name, kind] of [['chooser', undefined], ['email address', 'email'], ['security questions', 'security_questions'], ['phone number', 'mobile_phone']] as const) {
        const s = await victim(`fz-reg-${kind ?? 'chooser'}`, []);
        const browser = new Browser(t.url);
        const signin = await browser.open((await rp.start()).url.toString(), t.redirectUri);
        let page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: s.login, password: PASSWORD });
        assert.match(page.text, /Set up account recovery/);
        if (kind) page = await browser.submit(page, formAction(page.text, '/register'), { action: 'choose', kind });
        const csrf = hiddenValue(page.text, 'csrf');
        const action = kind === 'security_questions' ? 'finish' : kind ? 'start' : 'choose';
        targets[`register-${name}`] = {
          name: `registration: ${name}`,
          browser,
          path: new URL(formAction(page.text, '/register'), t.url).pathname,
          fields: () => ({ csrf, action, kind: 'email', email: 'not-an-address', phone: '12', extension: 'x', channel: 'sms', question_1: 'q1', answer_1: 'a', question_2: 'q2', answer_2: 'b', question_3: 'q3', answer_3: 'c' }),
          fuzz: ['action', 'kind', 'email', 'phone', 'extension', 'channel', 'code', 'saved', 'question_1', 'answer_1', 'question_3', 'answer_3'],
          actions: ['choose', 'start', 'finish', 'back', 'postpone', 'resend'],
          runs: 60,
        };
      }
      // Consent for a third-party client.
      {
        const s = await victim('fz-consent', ['authenticator_app']);
        const { browser, page } = await signedIn(s, thirdParty);
        assert.match(page.text, /consent/i);
        const path = new URL(formAction(page.text, '/consent'), t.url).pathname;
        targets.consent = { name: 'consent', browser, path, fields: () => ({}), fuzz: ['csrf'], runs: 50 };
      }
      // Forgot password: the start form, the flow (at "prove it is you"), the emailed-link form.
      {
        const s = await victim('fz-reset', ['email', 'authenticator_app']);
        const browser = new Browser(t.url);
        const form = await browser.open('/reset');
        targets.resetStart = {
          name: 'reset: start',
          browser,
          path: '/reset',
          fields: () => ({ csrf: hiddenValue(form.text, 'csrf'), identifier: s.login, r: 'abc' }),
          fuzz: ['identifier', 'r', 'csrf'],
          runs: 80,
        };
        const flowBrowser = new Browser(t.url);
        const choose = await startResetPage(flowBrowser, s.login);
        const prove = await flowBrowser.submit(choose, '/reset/flow', { action: 'choose', ref: resetRef(choose.text, 'Authenticator app') });
        targets.resetFlow = {
          name: 'reset: flow',
          browser: flowBrowser,
          path: '/reset/flow',
          fields: () => ({ csrf: hiddenValue(prove.text, 'csrf'), action: 'finish', code: '000000', ref: 'm1', channel: 'sms', answer_1: 'x' }),
          fuzz: ['action', 'code', 'ref', 'channel', 'password', 'confirm', 'answer_1', 'csrf'],
          actions: ['choose', 'finish', 'resend', 'back'],
          runs: 100,
        };
        const cont = new Browser(t.url);
        const contForm = await cont.open('/reset/continue?flow=abcdefghijklmnop');
        targets.resetContinue = { name: 'reset: continue from the email', browser: cont, path: '/reset/continue', fields: () => ({ csrf: hiddenValue(contForm.text, 'csrf'), flow: 'abcdefghijklmnop', code: 'wrong' }), fuzz: ['flow', 'code', 'csrf'], runs: 60 };
      }
      // My security info: step 1 (password), step 2 (a method), management with a recent proof; change password.
      {
        // One account per session: a TOTP time step works once, and the sessions sign in within one.
        const one = (await signedIn(await victim('fz-account-1', ['email', 'authenticator_app']))).browser;
        const start = await one.open('/account/security');
        const csrfOne = hiddenValue(start.text, 'csrf');
        targets.accountPassword = { name: 'My security info: password', browser: one, path: '/account/security/password', fields: () => ({ csrf: csrfOne, password: 'wrong-password-here' }), fuzz: ['password', 'csrf'], runs: 60 };
        const two = (await signedIn(await victim('fz-account-2', ['email', 'authenticator_app']))).browser;
        const first = await two.open('/account/security');
        const pick = await two.submit(first, '/account/security/password', { password: PASSWORD });
        const csrfTwo = hiddenValue(pick.text, 'csrf');
        targets.accountVerify = {
          name: 'My security info: method',
          browser: two,
          path: '/account/security/verify',
          fields: () => ({ csrf: csrfTwo, action: 'finish', methodId: 'nope', code: '000000', channel: 'sms' }),
          fuzz: ['action', 'methodId', 'code', 'channel'],
          actions: ['start', 'finish', 'resend', 'back'],
          runs: 60,
        };
        const s = await victim('fz-account-3', ['email', 'authenticator_app']);
        const three = (await signedIn(s)).browser;
        const p1 = await three.open('/account/security');
        const p2 = await three.submit(p1, '/account/security/password', { password: PASSWORD });
        const methodId = /name="methodId" id="method-[^"]+" value="([^"]+)"/.exec(p2.text)![1]!;
        const mails = smtp.messages.length;
        const codePage = await three.submit(p2, '/account/security/verify', { action: 'start', methodId });
        const code = codeIn(await smtp.waitFor((m) => m.to.includes(s.email!) && smtp.messages.indexOf(m) >= mails), 8);
        const manage = await three.submit(codePage, '/account/security/verify', { action: 'finish', code });
        assert.match(manage.text, /Your methods/);
        const csrfThree = hiddenValue(manage.text, 'csrf');
        for (const [name, path, fuzz, actions] of [
          ['add', '/account/security/add', ['action', 'kind', 'email', 'phone', 'code', 'saved'], ['open', 'choose', 'start', 'finish', 'back', 'cancel']],
          ['remove', '/account/security/remove', ['methodId'], undefined],
          ['regenerate', '/account/security/regenerate', ['csrf'], undefined],
          ['codes saved', '/account/security/codes-saved', ['saved'], undefined],
          ['forget a device', '/account/security/devices/forget', ['deviceId'], undefined],
          ['forget all devices', '/account/security/devices/forget-all', ['csrf'], undefined],
        ] as const) {
          targets[`account-${name}`] = {
            name: `My security info: ${name}`,
            browser: three,
            path,
            fields: () => ({ csrf: csrfThree, action: 'open', kind: 'nope', email: 'x', methodId: 'nope', deviceId: 'nope', saved: 'no' }),
            fuzz: [...fuzz],
            ...(actions ? { actions: [...actions] } : {}),
            runs: 40,
          };
        }
        const change = await three.open('/account/password');
        targets.changePassword = {
          name: 'change password',
          browser: three,
          path: '/account/password',
          fields: () => ({ csrf: hiddenValue(change.text, 'csrf'), current: 'wrong-current-password', password: 'new-password-is-long-enough', confirm: 'new-password-is-long-enough' }),
          fuzz: ['current', 'password', 'confirm', 'csrf'],
          runs: 60,
        };
      }
      // Invitation and the admin dashboard's sign-out.
      {
        const s = await victim('fz-invite', ['email']);
        const browser = new Browser(t.url);
        const form = await browser.open(`/invite?login=${s.login}`);
        targets.invite = {
          name: 'invitation',
          browser,
          path: '/invite',
          fields: () => ({ csrf: hiddenValue(form.text, 'csrf'), identifier: s.login, code: 'abcde-fghjk-mnpqr-stuvw', password: 'new-password-is-long-enough', confirm: 'new-password-is-long-enough' }),
          fuzz: ['identifier', 'code', 'password', 'confirm', 'csrf'],
          runs: 60,
        };
        const admin = new Browser(t.url);
        const dash = await admin.agent.get('/admin/logout');
        assert.ok(dash.status < 500);
        targets.adminLogout = { name: 'admin: sign out', browser: admin, path: '/admin/logout', fields: () => ({}), fuzz: ['csrf'], runs: 30 };
      }
      snapshots = new Map(await Promise.all(victims.map(async (v) => [v.id, JSON.stringify(await t.services.accounts.get(v.id))] as const)));
    });

    for (const name of [
      'password',
      'abort',
      'factor',
      'bootstrap',
      'register-chooser',
      'register-email address',
      'register-security questions',
      'register-phone number',
      'consent',
      'resetStart',
      'resetFlow',
      'resetContinue',
      'accountPassword',
      'accountVerify',
      'account-add',
      'account-remove',
      'account-regenerate',
      'account-codes saved',
      'account-forget a device',
      'account-forget all devices',
      'changePassword',
      'invite',
      'adminLogout',
    ]) {
      fuzzForm(name);
    }

    it('a whole body of invalid UTF-8 or of a wrong JSON type, to every form', async () => {
      const all = Object.values(targets);
      const rawBody = fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
        fc.constantFrom('null', '[]', '"string"', '42', 'true', '{"csrf":', '{"__proto__":{"polluted":"yes"}}', '[{"constructor":{"prototype":{"polluted":1}}}]').map((s) => Buffer.from(s)),
      );
      const type = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/x-www-form-urlencoded; charset=utf-16', 'text/plain', 'multipart/form-data; boundary=x', 'application/xml', '');
      await check('raw bodies', fc.tuple(fc.constantFrom(...all), rawBody, type), async ([tg, data, ct]) => {
        let req = tg.browser.agent.post(tg.path).set('Accept', 'text/html');
        if (ct) req = req.set('Content-Type', ct);
        const res = await req.serialize(asIs).send(data).redirects(0);
        assertSafe({ status: res.status, headers: res.headers, text: res.text ?? '' }, t.url, `${tg.name} raw ${ct} ${data.toString('hex').slice(0, 60)}`);
      }, 150);
    });

    it('afterwards: every victim account is unchanged, no audit event says something succeeded, Object.prototype is clean', async () => {
      for (const v of victims) assert.equal(JSON.stringify(await t.services.accounts.get(v.id)), snapshots.get(v.id), `${v.login} unchanged`);
      const ids = new Set(victims.map((v) => v.id));
      const events = (await auditOf(t)).filter((e) => e.at >= startedAt && SUCCESSES.has(e.type) && e.outcome === 'success');
      // The setup's own sign-ins and proofs are the only successes.
      const fuzzed = events.filter((e) => e.accountId && ids.has(e.accountId) && !['signin.completed', 'second_factor.succeeded', 'security_info.proven'].includes(e.type));
      assert.deepEqual(fuzzed.map((e) => `${e.type} ${e.accountId}`), []);
      assertNoPollution(proto);
    });
  });

  describe('JSON API', () => {
    let flow: { flow: string; secret: string };
    let apiVictim: Seeded;

    before(async () => {
      apiVictim = await victim('fz-api', ['email', 'authenticator_app']);
      const res = await request(t.url).post('/api/v1/resets').send({ identifier: apiVictim.login });
      flow = { flow: String(res.body.flow), secret: String(res.body.secret) };
      snapshots.set(apiVictim.id, JSON.stringify(await t.services.accounts.get(apiVictim.id)));
    });

    const api = async (path: string, data: Buffer, type: string, auth?: string): Promise<Answer> => {
      let req = request(t.url).post(path).set('Content-Type', type);
      if (auth !== undefined) req = req.set('Authorization', auth);
      const res = await req.serialize(asIs).send(data);
      return { status: res.status, headers: res.headers, text: res.text ?? '' };
    };

    const ops: [string, Record<string, string>, string[]][] = [
      ['', { identifier: 'fz-api' }, ['identifier']],
      ['/choose', { ref: 'm1', channel: 'sms' }, ['ref', 'channel']],
      ['/prove', { code: '000000' }, ['code', 'answers']],
      ['/back', {}, []],
      ['/password', { password: 'new-password-is-long-enough', confirm: 'new-password-is-long-enough' }, ['password', 'confirm']],
    ];

    it('every field of every operation, and stray keys', async () => {
      await check('API fields', fc.tuple(fc.constantFrom(...ops), fc.option(fc.constantFrom('password', 'code', 'ref', 'identifier', 'answers')), strayKey, hostile, fc.constantFrom('json', 'raw', 'form') as fc.Arbitrary<'json' | 'raw' | 'form'>, fc.boolean()), async ([[op, fields, names], chosen, stray, value, how, useStray]) => {
        const key = useStray || names.length === 0 ? stray : (chosen && names.includes(chosen) ? chosen : names[0]!);
        const b = body(fields, key, value, how);
        const path = op === '' ? '/api/v1/resets' : `/api/v1/resets/${flow.flow}${op}`;
        const res = await api(path, b.data, how === 'form' ? b.type : 'application/json', op ? `Bearer ${flow.secret}` : undefined);
        assert.match(String(res.headers['content-type']), /^application\/json/, `${path}: JSON`);
        assertSafe(res, t.url, `API ${path} ${how} ${key}=${describeValue(value)}`);
      }, 200);
    });

    it('whole bodies of any JSON value, invalid UTF-8 and odd content types', async () => {
      const data = fc.oneof(
        fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
        fc.constantFrom('{"__proto__":{"polluted":"yes"}}', '{"identifier":"a","identifier":"b"}', '{"answers":[1,2,3]}', '{"answers":"x"}', '{"code":null}', '[]', '').map((s) => Buffer.from(s)),
      );
      const type = fc.constantFrom('application/json', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'text/plain', 'application/merge-patch+json');
      await check('API bodies', fc.tuple(fc.constantFrom(...ops), data, type), async ([[op], d, ct]) => {
        const path = op === '' ? '/api/v1/resets' : `/api/v1/resets/${flow.flow}${op}`;
        const res = await api(path, d, ct, op ? `Bearer ${flow.secret}` : undefined);
        assertSafe(res, t.url, `API ${path} ${ct} ${d.toString('hex').slice(0, 60)}`);
      }, 150);
    });

    it('hostile flow ids in the path and hostile Authorization headers', async () => {
      const header = fc.oneof(
        hostileString.filter((s) => /^[\t\x20-\x7e]*$/.test(s) && s.length < 8000),
        fc.constantFrom('Bearer', 'Bearer ', `Bearer ${'a'.repeat(500)}`, 'Basic Zm9vOmJhcg==', `bearer ${flow?.secret ?? ''}x`, 'Bearer ../../', 'Bearer =====', 'Bearer \t'),
      );
      const segment = fc.oneof(hostileString.filter((s) => s.length < 2000), fc.constantFrom('..', '.', '%2e%2e', '__proto__', 'constructor', 'a'.repeat(41)));
      await check('API ids', fc.tuple(segment, header, fc.constantFrom('', '/choose', '/prove', '/password', '/back')), async ([id, auth, op]) => {
        const path = `/api/v1/resets/${encodeURIComponent(id.replace(/[\uD800-\uDFFF]/g, '?'))}${op}`;
        const req = op ? request(t.url).post(path).set('Content-Type', 'application/json').send('{}') : request(t.url).get(path);
        const res = await req.set('Authorization', auth);
        assertSafe({ status: res.status, headers: res.headers, text: res.text ?? '' }, t.url, `API ${path} auth=${JSON.stringify(auth).slice(0, 80)}`);
      }, 120);
    });

    it('afterwards: the API victim is unchanged and its flow never moved past "choose"/"prove"', async () => {
      assert.equal(JSON.stringify(await t.services.accounts.get(apiVictim.id)), snapshots.get(apiVictim.id));
      const view = await t.services.resets.current(flow.flow, flow.secret);
      assert.ok(!view || view.state === 'choose' || view.state === 'prove', view?.state);
      const events = (await auditOf(t, apiVictim.id)).filter((e) => SUCCESSES.has(e.type) && e.outcome === 'success');
      assert.deepEqual(events.map((e) => e.type), []);
      assertNoPollution(proto);
    });
  });

  describe('query strings and paths', () => {
    it('hostile query parameters on every page that reads one, and on the provider\'s endpoints', async () => {
      const { url: auth } = await rp.start();
      const pages = [
        '/reset?r=',
        '/invite?login=',
        '/reset/continue?flow=',
        '/admin?days=',
        '/admin/audit?type=',
        '/admin/audit?outcome=',
        '/account/security?x=',
        '/reset?ui_locales=',
        `${auth.pathname}${auth.search}&ui_locales=`,
        `${auth.pathname}${auth.search.replace(/redirect_uri=[^&]*/, 'redirect_uri=')}`,
        `${auth.pathname}${auth.search.replace(/client_id=[^&]*/, 'client_id=')}`,
        `${auth.pathname}${auth.search.replace(/scope=[^&]*/, 'scope=')}`,
        `${auth.pathname}${auth.search.replace(/code_challenge=[^&]*/, 'code_challenge=')}`,
        '/auth?client_id=test-rp&response_type=code&scope=openid&redirect_uri=',
        '/session/end?post_logout_redirect_uri=',
        '/session/end?client_id=test-rp&post_logout_redirect_uri=',
        '/session/end?id_token_hint=',
        '/.well-known/openid-configuration?x=',
        '/jwks?x=',
        '/healthz?x=',
        '/account/callback?code=x&state=',
        '/admin/callback?code=x&state=',
      ];
      const value = fc.oneof(
        hostileString.filter((s) => s.length < 6000).map((s) => Buffer.from(s).toString('hex').replace(/../g, '%$&')),
        invalidQuery,
        fc.constantFrom('%', '%%', '%E0%A4%A', '%FF', '&=&=', '[]', 'a&b[]=1&b[x]=2', '__proto__', 'x&__proto__[polluted]=yes', 'x&constructor[prototype][polluted]=yes'),
      );
      await check('query', fc.tuple(fc.constantFrom(...pages), value, fc.constantFrom('text/html', 'application/json', '*/*')), async ([page, v, accept]) => {
        const res = await request(t.url).get(`${page}${v}`).set('Accept', accept).redirects(0);
        assertSafe({ status: res.status, headers: res.headers, text: res.text ?? '' }, t.url, `GET ${page}${v.slice(0, 100)}`);
      }, 200);
      assertNoPollution(proto);
    });

    it('hostile paths under every prefix', async () => {
      const prefix = fc.constantFrom('/', '/assets/', '/interaction/', '/interaction/x/', '/reset/', '/account/', '/account/security/', '/api/v1/', '/api/v1/resets/', '/admin/', '/invite/', '/dev/outbox/', '/auth/', '/session/', '/token/', '/.well-known/');
      const segment = fc.oneof(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '..', '%2e%2e', '%2F', '%00', '%FF', '%E0%A4%A', '~', 'rekey.css/..', 'theme.css', 'logo', '%5C', 'a'.repeat(300)),
        hostileString.filter((s) => s.length < 3000).map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\u00ff'))),
      );
      const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH');
      await check('paths', fc.tuple(prefix, segment, method), async ([p, s, m]) => {
        const res = await request(t.url)[m.toLowerCase() as 'get'](`${p}${s}`).set('Accept', 'text/html').redirects(0);
        const answer = { status: res.status, headers: res.headers, text: m === 'HEAD' ? '' : (res.text ?? '') };
        if (m === 'HEAD') assert.ok(res.status < 500, `HEAD ${p}${s}: ${res.status}`);
        else assertSafe(answer, t.url, `${m} ${p}${s.slice(0, 100)}`);
      }, 200);
    });
  });
});

/** superagent would serialize a Buffer as JSON or a query string: send its bytes as they are. */
const asIs = (data: unknown): string => data as string;

/** Percent-encoded bytes that are not UTF-8, and broken escapes. */
const invalidQuery = fc.uint8Array({ minLength: 1, maxLength: 30 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join(''));
