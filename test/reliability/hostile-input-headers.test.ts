/**
 * Property-based fuzzing of request headers, sent over a raw socket so that anything a client
 * could put on the wire gets there: Host, X-Forwarded-For / -Host / -Proto, Cookie (every
 * cookie rekey and oidc-provider set), Accept-Language, Content-Type, User-Agent, Accept and
 * Authorization — huge (past Node's header limit), empty, Latin-1 bytes that are not UTF-8,
 * control characters, repeated headers — on pages, the provider's endpoints and the JSON API,
 * with and without a trusted proxy. Every answer: below 500, no stack trace or path, our page
 * or JSON (or Node's own bare 400/431 for what its HTTP parser refuses). Nothing changes.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction, hiddenValue } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';
import { PASSWORD, auditOf, seedAccount, type Seeded } from './helpers.ts';
import { assertNoPollution, assertSafe, check, prototypeKeys, rawRequest, type Answer } from './hostile.ts';

const COOKIES = [
  '_session',
  '_session.sig',
  '_interaction',
  '_interaction.sig',
  '_interaction_resume',
  '_interaction_resume.sig',
  'rekey.locale',
  'rekey_reset',
  'rekey_reset.sig',
  'rekey_reset_start',
  'rekey_device',
  'rekey_device.sig',
  'rekey_admin',
  'rekey_admin_tx',
  'rekey_account_tx',
  'invite_csrf',
  'account_password_csrf',
];

const HEADERS = ['Host', 'X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'Cookie', 'Accept-Language', 'Content-Type', 'User-Agent', 'Accept', 'Authorization', 'Origin', 'Referer'];

/** Header values as bytes: Latin-1 (0x80–0xff is not UTF-8 on its own), tabs, odd syntax, huge. */
const headerValue: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...'abc XYZ019-_.,;=:/@[]()<>"\'\\*%{}|~^`!?&#$+\t'.split('')), maxLength: 80 }).map((s) => Buffer.from(s, 'latin1')) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.from(b.map((x) => (x < 0x20 && x !== 9 ? x + 0x80 : x === 0x7f ? 0xff : x)))) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '[::1',
      '[::1]:99999',
      'evil.example',
      'evil.example:443',
      'a b',
      '127.0.0.1:0',
      '..',
      'ex\u00e4mple.com',
      '1.2.3.4, 5.6.7.8, unknown',
      'unknown',
      '999.999.999.999',
      '::ffff:127.0.0.1',
      ',,,,',
      'https, http',
      'gopher',
      'de-DE;q=2, en;q=-1, *;q=NaN, x-klingon',
      '*',
      'de_DE',
      'application/json; charset=utf-16',
      'application/x-www-form-urlencoded; charset=koi8-r',
      'multipart/form-data',
      'text/html; q=0, application/json; q=0.1',
      'Bearer',
      'Basic !!!',
      '_session=; _session=a; _session.sig=b',
      '=; ==; ;;; a',
      'rekey_reset=a.b; rekey_reset.sig=AAAA',
      'rekey.locale=__proto__',
      'rekey.locale=de; rekey.locale=en',
      'null',
    ).map((s) => Buffer.from(s, 'latin1')),
  },
  { weight: 1, arbitrary: fc.integer({ min: 2_000, max: 40_000 }).map((n) => Buffer.alloc(n, 0x61)) },
  // Characters Node's parser refuses in a header value: its own 400, never ours.
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from('a\0b'), Buffer.from('a\rb'), Buffer.from('a\x01b'), Buffer.from('a\x7fb')) },
);

const cookieHeader: fc.Arbitrary<Buffer> = fc
  .array(fc.tuple(fc.constantFrom(...COOKIES), headerValue.filter((b) => b.length < 3000 && !b.includes(0x3b))), { minLength: 1, maxLength: 6 })
  .map((pairs) => Buffer.concat(pairs.flatMap(([name, value], i) => [Buffer.from(`${i ? '; ' : ''}${name}=`), value])));

/** Answers Node's HTTP parser gives on its own (no body, no type) for what it refuses. */
function parserRefusal(res: Answer): boolean {
  return (res.status === 400 || res.status === 431 || res.status === 413) && !res.headers['content-type'] && res.text === '';
}

for (const hops of [0, 1]) {
  describe(`hostile input: fuzzing headers (TRUST_PROXY_HOPS=${hops})`, function () {
    this.timeout(180_000);
    let t: TestApp;
    let s: Seeded;
    let routes: { method: 'GET' | 'POST'; path: string; body?: Buffer; type?: string; auth?: string }[];
    let snapshot: string;
    let proto: string[];
    let startedAt: number;

    before(async () => {
      proto = prototypeKeys();
      t = await startTestApp({ SSPR_SCOPE: 'all', SSPR_METHODS: 'email,authenticator_app', TRUST_PROXY_HOPS: String(hops), SIGNIN_IP_MAX_FAILURES: '100000', RESET_STARTS_PER_IP: '10000' });
      startedAt = t.services.clock();
      s = await seedAccount(t, 'hdr', ['email', 'authenticator_app']);
      const rp = await RelyingParty.discover(t.url, t.redirectUri);
      const flow = await rp.start();
      const browser = new Browser(t.url);
      const page = await browser.open(flow.url.toString(), t.redirectUri);
      const signin = new URL(formAction(page.text, '/password'), t.url).pathname;
      const csrf = hiddenValue(page.text, 'csrf');
      const api = await fetch(`${t.url}/api/v1/resets`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ identifier: 'hdr' }) });
      const started = (await api.json()) as { flow: string; secret: string };
      const form = (fields: Record<string, string>) => Buffer.from(new URLSearchParams(fields).toString());
      routes = [
        { method: 'GET', path: '/.well-known/openid-configuration' },
        { method: 'GET', path: '/jwks' },
        { method: 'GET', path: `${flow.url.pathname}${flow.url.search}` },
        { method: 'GET', path: new URL(page.url).pathname },
        { method: 'POST', path: signin, body: form({ csrf, identifier: 'hdr', password: 'wrong-password-here' }), type: 'application/x-www-form-urlencoded' },
        { method: 'GET', path: '/reset' },
        { method: 'POST', path: '/reset', body: form({ csrf: 'x', identifier: 'hdr' }), type: 'application/x-www-form-urlencoded' },
        { method: 'GET', path: '/reset/flow' },
        { method: 'GET', path: '/account/security' },
        { method: 'GET', path: '/account/password' },
        { method: 'GET', path: '/invite' },
        { method: 'GET', path: '/admin' },
        { method: 'GET', path: '/session/end' },
        { method: 'POST', path: '/token', body: form({ grant_type: 'refresh_token', refresh_token: 'x' }), type: 'application/x-www-form-urlencoded' },
        { method: 'GET', path: '/healthz' },
        { method: 'GET', path: '/no/such/page' },
        { method: 'POST', path: '/api/v1/resets', body: Buffer.from('{"identifier":"nobody-here"}'), type: 'application/json' },
        { method: 'GET', path: `/api/v1/resets/${started.flow}`, auth: `Bearer ${started.secret}` },
        { method: 'POST', path: `/api/v1/resets/${started.flow}/prove`, body: Buffer.from('{"code":"000000"}'), type: 'application/json', auth: `Bearer ${started.secret}` },
      ];
      snapshot = JSON.stringify(await t.services.accounts.get(s.id));
    });
    after(() => t?.close());

    function send(route: (typeof routes)[number], extra: [string, Buffer][]): Promise<Answer> {
      const names = new Set(extra.map(([n]) => n.toLowerCase()));
      const head: (string | Buffer)[] = [`${route.method} ${route.path} HTTP/1.1`];
      if (!names.has('host')) head.push(`Host: ${new URL(t.url).host}`);
      if (route.type && !names.has('content-type')) head.push(`Content-Type: ${route.type}`);
      if (route.auth && !names.has('authorization')) head.push(`Authorization: ${route.auth}`);
      for (const [name, value] of extra) head.push(Buffer.concat([Buffer.from(`${name}: `), value]));
      if (route.body) head.push(`Content-Length: ${route.body.length}`);
      head.push('Connection: close');
      return rawRequest(t.url, head, route.body);
    }

    function safe(res: Answer, label: string): void {
      if (parserRefusal(res)) return;
      assertSafe(res, t.url, label);
    }

    it('one hostile header at a time, on every route', async () => {
      const header = fc.oneof(
        fc.tuple(fc.constantFrom(...HEADERS.filter((h) => h !== 'Cookie')), headerValue),
        fc.tuple(fc.constant('Cookie'), cookieHeader),
      );
      await check('one header', fc.tuple(fc.constantFrom(...routes), header), async ([route, [name, value]]) => {
        const res = await send(route, [[name, value]]);
        safe(res, `${route.method} ${route.path} ${name}: ${value.toString('latin1').slice(0, 100)}`);
      }, 250);
    });

    it('several hostile headers at once, repeated ones included', async () => {
      const headers = fc.array(fc.tuple(fc.constantFrom(...HEADERS), headerValue.filter((b) => b.length < 4000)), { minLength: 2, maxLength: 8 });
      await check('many headers', fc.tuple(fc.constantFrom(...routes), headers), async ([route, extra]) => {
        const res = await send(route, extra);
        safe(res, `${route.method} ${route.path} ${extra.map(([n, v]) => `${n}: ${v.toString('latin1').slice(0, 40)}`).join(' | ')}`);
      }, 150);
    });

    it('afterwards: the account is unchanged, nothing succeeded, Object.prototype is clean', async () => {
      assert.equal(JSON.stringify(await t.services.accounts.get(s.id)), snapshot);
      const events = (await auditOf(t, s.id)).filter((e) => e.at >= startedAt && e.outcome === 'success' && e.type !== 'reset.started');
      assert.deepEqual(events.map((e) => e.type), []);
      assertNoPollution(proto);
      // The app still works: a real sign-in with a plain browser.
      const rp = await RelyingParty.discover(t.url, t.redirectUri);
      const browser = new Browser(t.url);
      const page = await browser.open((await rp.start()).url.toString(), t.redirectUri);
      const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'hdr', password: PASSWORD }, t.redirectUri);
      assert.ok(done.status < 500, `${done.status}`);
    });
  });
}
