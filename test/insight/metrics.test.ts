/**
 * Prometheus metrics at /metrics: off → 404; on → bearer token (constant-time), Prometheus
 * text; counters move when real flows run over HTTP (sign-ins, a second factor, a reset with
 * an email code through a real SMTP server); argon2 and store histograms fill; label values
 * stay bounded; process metrics are there; production refuses metrics without a token.
 */
import assert from 'node:assert/strict';
import request from 'supertest';
import { generate } from 'otplib';
import { totpNow } from '../support/totp.ts';
import { pino } from 'pino';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, type Page } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { seedWithMethods } from '../support/seed.ts';
import { parseConfig } from '../../src/config/load.ts';
import { generateSigningKey } from '../../src/keys.ts';
import { configError } from '../support/config-error.ts';

const TOKEN = 'metrics-token-0123456789-abcdefghijklmnop';
const PASSWORD = 'amber-willow-drifts-slowly';
const NEW_PASSWORD = 'copper-heron-wades-at-dusk';

/** One sample line of the text format: name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format strictly: every line is a comment, blank, or a sample. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    // Values as Go's ParseFloat reads them (prom-client writes NaN as `Nan`).
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|nan|[+-]inf)$/i.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/** The value of the sample `name` whose labels include `labels` (0 when there is none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found?.value ?? 0;
}

/** Sum of the samples `name` whose labels include `labels`. */
function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

async function scrape(t: TestApp): Promise<Sample[]> {
  const res = await request(t.url).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
  assert.equal(res.status, 200, res.text);
  return parseExposition(res.text).samples;
}

describe('Prometheus metrics', function () {
  this.timeout(60_000);

  describe('configuration', () => {
    const production = () => ({
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.com',
      TRUST_PROXY_HOPS: '1',
      JWKS: JSON.stringify({ keys: [generateSigningKey()] }),
      COOKIE_KEYS: 'a'.repeat(32),
      HMAC_KEYS: 'b'.repeat(32),
      TOTP_KEYS: 'c'.repeat(32),
      SSPR_METHODS: 'email,authenticator_app,recovery_codes',
    });

    it('is off by default', () => {
      assert.equal(parseConfig({}).METRICS, 'off');
      assert.equal(parseConfig(production()).METRICS, 'off');
    });

    it('production refuses METRICS=on without METRICS_TOKEN, naming both; with a token it starts', () => {
      const message = configError(() => parseConfig({ ...production(), METRICS: 'on' }));
      for (const part of ['NODE_ENV=production', 'METRICS=on', 'METRICS_TOKEN']) assert.ok(message.includes(part), message);
      const c = parseConfig({ ...production(), METRICS: 'on', METRICS_TOKEN: TOKEN });
      assert.equal(c.METRICS_TOKEN, TOKEN);
    });

    it('refuses a short token and an unknown mode, without echoing the token', () => {
      const short = configError(() => parseConfig({ METRICS: 'on', METRICS_TOKEN: 'too-short-token' }));
      assert.match(short, /METRICS_TOKEN/);
      assert.match(short, /32 characters/);
      assert.doesNotMatch(short, /too-short-token/);
      assert.match(configError(() => parseConfig({ METRICS: 'yes' })), /METRICS="yes" is invalid; allowed: off, on/);
    });
  });

  describe('METRICS=off', () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp({ METRICS_TOKEN: TOKEN });
    });
    after(() => t?.close());

    it('has no /metrics (404) and no registry', async () => {
      const res = await request(t.url).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
      assert.equal(res.status, 404);
      assert.equal(t.services.metrics, undefined);
    });
  });

  describe('METRICS=on without a token outside production', () => {
    let t: TestApp;
    const lines: Record<string, unknown>[] = [];
    before(async () => {
      const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
      t = await startTestApp({ NODE_ENV: 'development', METRICS: 'on' }, { log });
    });
    after(() => t?.close());

    it('is open, and start-up warns about it', async () => {
      const res = await request(t.url).get('/metrics');
      assert.equal(res.status, 200);
      assert.match(res.text, /# TYPE rekey_signins_total counter/);
      const warning = lines.find((l) => l.event === 'metrics_open');
      assert.ok(warning, JSON.stringify(lines));
      assert.match(String(warning.msg), /METRICS_TOKEN/);
    });
  });

  describe('METRICS=on with a token', () => {
    let t: TestApp;
    let rp: RelyingParty;
    let smtp: TestSmtpServer;

    before(async () => {
      smtp = await startSmtpServer();
      t = await startTestApp({
        METRICS: 'on',
        METRICS_TOKEN: TOKEN,
        TWO_FACTOR: 'all',
        SSPR_SCOPE: 'all',
        SSPR_METHODS: 'email,authenticator_app,recovery_codes',
        SSPR_PROOFS_REQUIRED: '2',
        RESET_MAX_FAILED_PROOFS: '3',
        SMTP_URL: smtp.url,
        DEV_OUTBOX: 'false',
      });
      rp = await RelyingParty.discover(t.url, t.redirectUri);
    });
    after(async () => {
      await t?.close();
      await smtp?.stop();
    });

    it('answers 401 with WWW-Authenticate: Bearer without the token, with a wrong one, or another scheme', async () => {
      for (const auth of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, 'Bearer ', `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, TOKEN]) {
        const req = request(t.url).get('/metrics');
        const res = await (auth === undefined ? req : req.set('Authorization', auth));
        assert.equal(res.status, 401, `${auth}: ${res.status}`);
        assert.match(res.headers['www-authenticate'] ?? '', /^Bearer\b/);
        assert.doesNotMatch(res.text, /rekey_/);
      }
    });

    it('answers the Prometheus text format with the token: rekey_ counters and histograms, and the standard process metrics', async () => {
      const res = await request(t.url).get('/metrics').set('Authorization', `bearer ${TOKEN}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], t.services.metrics!.registry.contentType);
      assert.match(res.headers['content-type']!, /^text\/plain; version=0\.0\.4/);
      const { samples, types } = parseExposition(res.text);
      for (const name of [
        'rekey_signins_total',
        'rekey_signins_completed_total',
        'rekey_second_factor_total',
        'rekey_method_registrations_total',
        'rekey_resets_started_total',
        'rekey_resets_completed_total',
        'rekey_reset_proofs_total',
        'rekey_resets_blocked_total',
        'rekey_codes_sent_total',
        'rekey_code_delivery_failures_total',
        'rekey_throttles_total',
        'rekey_lockouts_total',
      ]) {
        assert.equal(types.get(name), 'counter', `# TYPE ${name} counter`);
        assert.match(res.text, new RegExp(`^# TYPE ${name} counter$`, 'm'));
      }
      assert.equal(types.get('rekey_argon2_duration_seconds'), 'histogram');
      assert.equal(types.get('rekey_store_operation_duration_seconds'), 'histogram');
      // Process metrics keep their standard, unprefixed names.
      assert.equal(types.get('process_cpu_seconds_total'), 'counter');
      assert.ok(samples.some((s) => s.name === 'process_resident_memory_bytes'));
      assert.ok(samples.some((s) => s.name.startsWith('nodejs_')));
      assert.equal(valueOf(samples, 'rekey_resets_started_total', { decoy: 'true' }), 0, 'series exist from the start');
    });

    it('each app has its own registry', async () => {
      const other = await startTestApp({ METRICS: 'on', METRICS_TOKEN: TOKEN });
      try {
        assert.notEqual(other.services.metrics!.registry, t.services.metrics!.registry);
        const completed = async (app: TestApp) => (await app.services.metrics!.resetsCompleted.get()).values[0]?.value ?? 0;
        const mine = await completed(t);
        await other.services.audit.record({ type: 'reset.completed', outcome: 'success', accountId: 'x' });
        assert.equal(await completed(other), 1);
        assert.equal(await completed(t), mine, 'another app\'s events do not reach this registry');
      } finally {
        await other.close();
      }
    });

    /** Starts an authorization request and answers the password page; stops at the RP callback. */
    async function password(browser: Browser, login: string, pw: string): Promise<{ flow: Awaited<ReturnType<RelyingParty['start']>>; page: Page }> {
      const flow = await rp.start();
      const signin = await browser.open(flow.url.toString(), t.redirectUri);
      assert.equal(signin.status, 200, signin.text.slice(0, 300));
      const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password: pw }, t.redirectUri);
      return { flow, page };
    }

    it('a successful sign-in with a second factor and a failed one move the counters; argon2 and store histograms fill', async () => {
      const { id, totp } = await seedWithMethods(t.services, 'mira', PASSWORD);
      const before = await scrape(t);

      const failed = await password(new Browser(t.url), 'mira', 'not-the-right-password-at-all');
      assert.equal(failed.page.status, 401);

      const browser = new Browser(t.url);
      const { flow, page } = await password(browser, 'mira', PASSWORD);
      assert.match(page.text, /<h1>Confirm it is you<\/h1>/);
      const ref = /id="ref-([^"]+)" value="\1"[^>]*>\s*<label for="ref-\1">Authenticator app/.exec(page.text)![1]!;
      const proof = await browser.submit(page, formAction(page.text, '/second-factor'), { action: 'choose', ref });
      const done = await browser.submit(proof, formAction(proof.text, '/second-factor'), { action: 'finish', code: await totpNow(totp) }, t.redirectUri);
      assert.ok(done.location?.startsWith(t.redirectUri), `${done.status} ${done.text.slice(0, 300)}`);
      const tokens = await rp.finish(flow, done.location!);
      assert.equal(tokens.claims()!.sub, id);

      const after = await scrape(t);
      const delta = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
      assert.equal(delta('rekey_second_factor_total', { method: 'authenticator_app', outcome: 'success' }), 1, 'second factor succeeded');
      assert.ok(sumOf(after, 'rekey_argon2_duration_seconds_count', { op: 'verify' }) - sumOf(before, 'rekey_argon2_duration_seconds_count', { op: 'verify' }) >= 2, 'two password verifies');
      assert.ok(valueOf(after, 'rekey_store_operation_duration_seconds_count', { op: 'accounts.get' }) > 0);
      assert.ok(valueOf(after, 'rekey_store_operation_duration_seconds_count', { op: 'oidc.find' }) > 0);
      assert.ok(valueOf(after, 'rekey_store_operation_duration_seconds_bucket', { op: 'oidc.find', le: '+Inf' }) > 0);
      // Fed by signin.password / signin.completed (docs/audit-events.md).
      assert.equal(delta('rekey_signins_total', { outcome: 'failure', reason: 'wrong_credentials' }), 1, 'failed sign-in (audit signin.password failure)');
      assert.equal(delta('rekey_signins_total', { outcome: 'success', reason: 'none' }), 1, 'password accepted (audit signin.password success)');
      assert.equal(delta('rekey_signins_completed_total', { acr: 'mfa' }), 1, 'completed sign-in (audit signin.completed)');
    });

    it('a reset with an email code through SMTP, a wrong proof and a decoy move the reset and code counters', async () => {
      const { totp } = await seedWithMethods(t.services, 'nils', PASSWORD);
      const before = await scrape(t);

      const browser = new Browser(t.url);
      const form = await browser.open('/reset');
      const choose = await browser.submit(form, '/reset', { identifier: 'nils' });
      assert.match(choose.text, /\(0 of 2 done\)/);
      const emailRef = /id="ref-(m\d)" value="\1"[^>]*>\s*<label[^>]*>Email/.exec(choose.text)![1]!;
      const sentAt = smtp.messages.length;
      const prove = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: emailRef });
      const mail = await smtp.waitFor((m) => m.to.includes('nils.private@example.org') && smtp.messages.indexOf(m) >= sentAt);
      const second = await browser.submit(prove, '/reset/flow', { action: 'finish', code: codeIn(mail, 8) });
      assert.match(second.text, /\(1 of 2 done\)/);
      const prove2 = await browser.submit(second, '/reset/flow', { action: 'choose', ref: /name="ref" id="ref-(m\d)"/.exec(second.text)![1]! });
      const right = await totpNow(totp);
      const wrong = await browser.submit(prove2, '/reset/flow', { action: 'finish', code: right === '000000' ? '111111' : '000000' });
      assert.equal(wrong.status, 400);
      const pw = await browser.submit(wrong, '/reset/flow', { action: 'finish', code: right });
      const done = await browser.submit(pw, '/reset/flow', { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
      assert.match(done.text, /Password changed/);

      const decoy = new Browser(t.url);
      const decoyForm = await decoy.open('/reset');
      await decoy.submit(decoyForm, '/reset', { identifier: 'nobody-by-this-name' });

      const after = await scrape(t);
      const delta = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
      assert.equal(delta('rekey_resets_started_total', { decoy: 'false' }), 1);
      assert.equal(delta('rekey_resets_started_total', { decoy: 'true' }), 1);
      assert.equal(delta('rekey_codes_sent_total', { channel: 'email', purpose: 'reset' }), 1, 'one email code');
      assert.equal(delta('rekey_reset_proofs_total', { method: 'authenticator_app', outcome: 'failure', reason: 'code_wrong' }), 1);
      assert.equal(delta('rekey_resets_completed_total'), 1);
      assert.ok(delta('rekey_argon2_duration_seconds_count', { op: 'hash' }) >= 1, 'the new password was hashed');
      // Fed by reset.proof_succeeded (docs/audit-events.md).
      assert.equal(delta('rekey_reset_proofs_total', { method: 'email', outcome: 'success', reason: 'none' }), 1, 'audit reset.proof_succeeded (email)');
      assert.equal(delta('rekey_reset_proofs_total', { method: 'authenticator_app', outcome: 'success', reason: 'none' }), 1, 'audit reset.proof_succeeded (app)');
    });

    it('three wrong reset proofs block resets for the account', async () => {
      const { totp } = await seedWithMethods(t.services, 'olga', PASSWORD);
      const before = await scrape(t);
      const browser = new Browser(t.url);
      const choose = await browser.submit(await browser.open('/reset'), '/reset', { identifier: 'olga' });
      const appRef = /id="ref-(m\d)" value="\1"[^>]*>\s*<label[^>]*>Authenticator app/.exec(choose.text)![1]!;
      let page = await browser.submit(choose, '/reset/flow', { action: 'choose', ref: appRef });
      const wrong = (await generate({ secret: totp })) === '000000' ? '111111' : '000000';
      for (let i = 0; i < 3; i += 1) page = await browser.submit(page, '/reset/flow', { action: 'finish', code: wrong });
      assert.equal(page.status, 429);
      const after = await scrape(t);
      const failures = { method: 'authenticator_app', outcome: 'failure', reason: 'code_wrong' };
      assert.equal(valueOf(after, 'rekey_reset_proofs_total', failures) - valueOf(before, 'rekey_reset_proofs_total', failures), 3);
      // Fed by reset.blocked (docs/audit-events.md).
      assert.equal(valueOf(after, 'rekey_resets_blocked_total') - valueOf(before, 'rekey_resets_blocked_total'), 1, 'audit reset.blocked');
    });

    it('every contract event lands in its counter, and label values stay bounded (no ids, IPs or free text)', async () => {
      const audit = t.services.audit;
      const before = await scrape(t);
      const ip = '203.0.113.77';
      const accountId = 'acct-3f9a1c';
      await audit.record({ type: 'signin.password', outcome: 'blocked', accountId, ip, reason: 'ip_throttled' });
      await audit.record({ type: 'signin.password', outcome: 'blocked', accountId, ip, reason: 'locked_hard' });
      await audit.record({ type: 'signin.password', outcome: 'failure', accountId, ip, reason: `something ${ip}` });
      await audit.record({ type: 'signin.completed', outcome: 'success', accountId, ip, details: { client: 'test-rp', acr: 'urn:rekey:acr:pwd', amr: 'pwd' } });
      await audit.record({ type: 'signin.completed', outcome: 'success', accountId, ip, details: { acr: accountId } });
      await audit.record({ type: 'lockout.started', outcome: 'blocked', accountId, ip, reason: 'soft' });
      await audit.record({ type: 'lockout.started', outcome: 'blocked', accountId, ip, reason: 'hard' });
      await audit.record({ type: 'second_factor.failed', outcome: 'failure', accountId, ip, reason: 'code_wrong', details: { kind: 'mobile_phone' } });
      await audit.record({ type: 'method.registered', outcome: 'success', accountId, ip, details: { kind: 'recovery_codes', masked: 'x' } });
      await audit.record({ type: 'method.registration_failed', outcome: 'failure', accountId, ip, reason: 'phone_invalid', details: { kind: accountId } });
      await audit.record({ type: 'code.sent', outcome: 'success', accountId, ip, details: { purpose: 'second_factor', kind: 'mobile_phone', channel: 'voice', to: '+48 ••• 12' } });
      await audit.record({ type: 'code.sent', outcome: 'success', ip, reason: 'decoy', details: { purpose: 'reset', kind: 'email', channel: 'email' } });
      await audit.record({ type: 'code.sent', outcome: 'success', accountId, details: { purpose: ip, channel: 'pigeon' } });
      await audit.record({ type: 'code.delivery_failed', outcome: 'failure', reason: 'connect ECONNREFUSED', details: { purpose: 'reset', channel: 'sms' } });
      await audit.record({ type: 'code.throttled', outcome: 'blocked', accountId, details: { purpose: 'register', channel: 'sms', kind: 'mobile_phone' } });
      await audit.record({ type: 'reset.blocked', outcome: 'blocked', accountId, ip });
      await audit.record({ type: 'reset.proof_succeeded', outcome: 'success', accountId, ip, details: { kind: 'recovery_codes' } });

      const res = await request(t.url).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
      assert.doesNotMatch(res.text, /203\.0\.113\.77|acct-3f9a1c|ECONNREFUSED|pigeon|something/);
      const after = parseExposition(res.text).samples;
      const delta = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
      assert.equal(delta('rekey_signins_total', { outcome: 'blocked', reason: 'ip_throttled' }), 1);
      assert.equal(delta('rekey_signins_total', { outcome: 'blocked', reason: 'locked_hard' }), 1);
      assert.equal(delta('rekey_signins_total', { outcome: 'failure', reason: 'other' }), 1);
      assert.equal(delta('rekey_throttles_total', { kind: 'signin_ip' }), 1);
      assert.equal(delta('rekey_throttles_total', { kind: 'code_send' }), 1);
      assert.equal(delta('rekey_signins_completed_total', { acr: 'pwd' }), 1);
      assert.equal(delta('rekey_signins_completed_total', { acr: 'other' }), 1);
      assert.equal(delta('rekey_lockouts_total', { kind: 'soft' }), 1);
      assert.equal(delta('rekey_lockouts_total', { kind: 'hard' }), 1);
      assert.equal(delta('rekey_second_factor_total', { method: 'mobile_phone', outcome: 'failure' }), 1);
      assert.equal(delta('rekey_method_registrations_total', { method: 'recovery_codes', outcome: 'success' }), 1);
      assert.equal(delta('rekey_method_registrations_total', { method: 'other', outcome: 'failure' }), 1);
      assert.equal(delta('rekey_codes_sent_total', { channel: 'voice', purpose: 'second_factor' }), 1);
      assert.equal(delta('rekey_codes_sent_total', { channel: 'other', purpose: 'other' }), 1);
      assert.equal(delta('rekey_codes_sent_total', { channel: 'email', purpose: 'reset' }), 0, 'a decoy sends nothing');
      assert.equal(delta('rekey_code_delivery_failures_total', { channel: 'sms' }), 1);
      assert.equal(delta('rekey_resets_blocked_total'), 1);
      assert.equal(delta('rekey_reset_proofs_total', { method: 'recovery_codes', outcome: 'success', reason: 'none' }), 1);
    });
  });
});
