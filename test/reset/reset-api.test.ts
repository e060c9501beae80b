/**
 * "Forgot password?" through the JSON API (/api/v1/resets) for mobile and other non-browser
 * clients: the same state machine as the pages, bound by flow id + bearer secret. Every
 * response is checked against docs/openapi.json (status documented for its operation,
 * JSON body valid against the documented schema, required headers present), so the
 * document cannot drift from the code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { totpNow } from '../support/totp.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { FALLBACK_ROUTE, resetApiRoutes } from '../../interactions/api/reset-api.ts';
import { seedWithMethods } from '../support/seed.ts';

const OLD = 'copper-finch-sings-early';
const NEW = 'violet-harbour-kites-drift';
const DOC_PATH = new URL('../../docs/openapi.json', import.meta.url);
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

type Json = Record<string, unknown>;
type Method = 'get' | 'post';
type Template =
  | '/api/v1/resets'
  | '/api/v1/resets/{flow}'
  | '/api/v1/resets/{flow}/choose'
  | '/api/v1/resets/{flow}/prove'
  | '/api/v1/resets/{flow}/back'
  | '/api/v1/resets/{flow}/password'
  | '/api/v1/openapi.json';

interface Res {
  status: number;
  body: Json;
  headers: Record<string, string>;
}

// --- the document and its validators ------------------------------------------------------

const doc = JSON.parse(readFileSync(DOC_PATH, 'utf8')) as Json & { paths: Record<string, Record<string, Json>>; components: Json };
const addFormats = ((formats as unknown as { default?: unknown }).default ?? formats) as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
addFormats(ajv);
// The document's own (non-schema) members, so strict mode accepts the document as a schema
// root; every schema reached through a $ref is still compiled in strict mode.
ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks', 'components', 'security', 'tags', 'externalDocs']);
ajv.addSchema(doc, 'openapi');
const compiled = new Map<string, ValidateFunction>();

function validator(pointer: string): ValidateFunction {
  let v = compiled.get(pointer);
  if (!v) {
    v = ajv.compile({ $ref: `openapi${pointer}` });
    compiled.set(pointer, v);
  }
  return v;
}

const esc = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** Follows `$ref`s inside the document; returns the object and the pointer it lives at. */
function deref(value: Json, pointer: string): { value: Json; pointer: string } {
  let v = value;
  let p = pointer;
  for (let i = 0; typeof v.$ref === 'string' && i < 10; i += 1) {
    p = v.$ref;
    assert.ok(p.startsWith('#/'), `only local refs: ${p}`);
    v = p
      .slice(2)
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<Json>((o, k) => {
        assert.ok(o && typeof o === 'object' && k in o, `unresolved $ref ${p}`);
        return o[k] as Json;
      }, doc);
  }
  return { value: v, pointer: p };
}

function operation(method: string, template: string): Json {
  const op = doc.paths[template]?.[method];
  assert.ok(op, `${method.toUpperCase()} ${template} is not in docs/openapi.json`);
  return op;
}

const exercised = new Set<string>();

/** The response conforms to the document: documented status, JSON, schema, required headers. */
function conform(method: Method, template: Template, res: Res): void {
  const responses = operation(method, template).responses as Json;
  const status = String(res.status);
  const key = status in responses ? status : `${status[0]}XX`;
  assert.ok(key in responses, `${method.toUpperCase()} ${template}: status ${status} is not documented (body ${JSON.stringify(res.body)})`);
  const { value: response, pointer } = deref(responses[key] as Json, `#/paths/${esc(template)}/${method}/responses/${key}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, `${method} ${template} ${status}: JSON only`);
  assert.equal(res.headers['cache-control'], 'no-store', `${method} ${template} ${status}: no-store`);
  for (const [name, h] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const header = deref(h, '').value;
    const value = res.headers[name.toLowerCase()];
    if (header.required) assert.ok(value !== undefined, `${method} ${template} ${status}: header ${name} is required`);
    if (value !== undefined) {
      const schema = header.schema as Json;
      const typed = schema.type === 'integer' ? Number(value) : value;
      assert.ok(ajv.validate(schema, typed), `${method} ${template} ${status}: header ${name}: ${value} (${ajv.errorsText(ajv.errors)})`);
    }
  }
  const content = (response.content as Record<string, Json> | undefined)?.['application/json'];
  assert.ok(content?.schema, `${method} ${template} ${status}: no application/json schema`);
  const validate = validator(`${pointer}/content/application~1json/schema`);
  assert.ok(validate(res.body), `${method.toUpperCase()} ${template} ${status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(res.body)}`);
  exercised.add(`${method} ${template} ${key}`);
}

/** Does the documented request schema accept `body`? */
function requestAccepted(method: Method, template: Template, body: unknown): boolean {
  const rb = operation(method, template).requestBody as Json | undefined;
  assert.ok(rb, `${method} ${template} has no documented request body`);
  const { pointer } = deref(rb, `#/paths/${esc(template)}/${method}/requestBody`);
  return validator(`${pointer}/content/application~1json/schema`)(body);
}

const keysOf = (value: unknown): unknown =>
  Array.isArray(value) ? value.map(keysOf) : value && typeof value === 'object' ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, keysOf((value as Json)[k])])) : typeof value;

// --- the suite --------------------------------------------------------------------------

describe('password reset JSON API (/api/v1/resets)', function () {
  this.timeout(60_000);
  let t: TestApp;
  let smtp: TestSmtpServer;
  let ipCount = 0;
  /** A client IP of its own per test (behind one trusted proxy), so per-IP throttles stay apart. */
  const newIp = () => `10.77.${Math.floor(ipCount / 250)}.${(ipCount++ % 250) + 1}`;

  before(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({
      SSPR_SCOPE: 'all',
      SSPR_METHODS: 'email,authenticator_app,recovery_codes',
      SMTP_URL: smtp.url,
      DEV_OUTBOX: 'false',
      RESET_MAX_FAILED_PROOFS: '3',
      RESET_STARTS_PER_IP: '5',
      TRUST_PROXY_HOPS: '1',
    });
  });
  after(async () => {
    await t?.close();
    await smtp?.stop();
  });

  const seed = (login: string, admin = false): Promise<{ id: string; totp: string }> => seedWithMethods(t.services, login, OLD, admin);

  interface Call {
    ip: string;
    flow?: string;
    /** Sent as `Authorization: Bearer …`; `authorization` overrides the whole header. */
    secret?: string;
    authorization?: string;
    /** A JSON body (sent as application/json). */
    body?: unknown;
    /** A body sent as is, with this content type. */
    raw?: { type: string; data: string };
  }

  /** One API call, checked against the document. */
  async function call(method: Method, template: Template, c: Call): Promise<Res> {
    const path = template.replace('{flow}', c.flow ?? '');
    let req = method === 'get' ? request(t.url).get(path) : request(t.url).post(path);
    req = req.set('X-Forwarded-For', c.ip).set('Accept', 'application/json');
    if (c.authorization !== undefined) req = req.set('Authorization', c.authorization);
    else if (c.secret !== undefined) req = req.set('Authorization', `Bearer ${c.secret}`);
    if (c.raw) req = req.set('Content-Type', c.raw.type).send(c.raw.data);
    else if (c.body !== undefined) req = req.set('Content-Type', 'application/json').send(JSON.stringify(c.body));
    const res = await req;
    const out: Res = { status: res.status, body: res.body as Json, headers: res.headers as Record<string, string> };
    conform(method, template, out);
    if (c.body !== undefined && !c.raw) {
      // The document's request schemas agree with the server about what is acceptable.
      const accepted = requestAccepted(method, template, c.body);
      if (res.status < 300) assert.ok(accepted, `the server accepted a body the document refuses: ${JSON.stringify(c.body)}`);
      if (/^(field_|body_)/.test(String(out.body.error))) assert.ok(!accepted, `the document accepts a body the server refuses: ${JSON.stringify(c.body)}`);
    }
    return out;
  }

  async function start(identifier: string, ip: string): Promise<{ flow: string; secret: string; res: Res }> {
    const res = await call('post', '/api/v1/resets', { ip, body: { identifier } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { flow: String(res.body.flow), secret: String(res.body.secret), res };
  }

  const refOf = (view: Json, kind: string): string => {
    const m = (view.methods as { ref: string; kind: string }[]).find((x) => x.kind === kind);
    assert.ok(m, `no ${kind} in ${JSON.stringify(view.methods)}`);
    return m.ref;
  };
  const auditCount = async (type: string, accountId?: string) =>
    (await t.services.audit.recent({ limit: 1000 })).filter((e) => e.type === type && (accountId === undefined || e.accountId === accountId)).length;

  it('the OpenAPI document is OpenAPI 3.1 JSON, compiles, documents every route of the router and is served as is', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const schemes = (doc.components.securitySchemes ?? {}) as Record<string, Json>;
    assert.deepEqual(Object.values(schemes).map((s) => [s.type, s.scheme]), [['http', 'bearer']]);
    const info = doc.info as Json;
    assert.match(String(info.description), /decoy/i, 'the decoy behaviour is described');
    assert.match(String(info.description), /Retry-After/, 'the throttles are described');

    // Every route the router has is documented, and nothing else.
    const router = resetApiRoutes(t.services);
    const routes = router.stack
      .filter((l) => l.name !== FALLBACK_ROUTE && l.methods.length > 0)
      .flatMap((l) => l.methods.filter((m) => m !== 'HEAD').map((m) => `${m.toLowerCase()} ${String(l.path).replace(/:(\w+)/g, '{$1}')}`))
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([p, item]) => Object.keys(item).filter((k) => HTTP_METHODS.includes(k)).map((m) => `${m} ${p}`))
      .sort();
    assert.deepEqual(documented, routes);
    assert.equal(routes.length, 7);

    // Every operation: an id, JSON schemas for every response, path parameters declared.
    const ids = new Set<string>();
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const m of Object.keys(item).filter((k) => HTTP_METHODS.includes(k))) {
        const op = item[m] as Json;
        assert.ok(typeof op.operationId === 'string' && !ids.has(op.operationId), `${m} ${p}: a unique operationId`);
        ids.add(op.operationId as string);
        const params = [...((item.parameters ?? []) as Json[]), ...((op.parameters ?? []) as Json[])].map((x) => deref(x, '').value.name);
        assert.deepEqual(params.sort(), [...p.matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort(), `${m} ${p}: path parameters`);
        for (const [status, r] of Object.entries(op.responses as Record<string, Json>)) {
          assert.match(status, /^([1-5]\d\d|[1-5]XX)$/, `${m} ${p}: no "default" response, every status is listed`);
          const { value, pointer } = deref(r, `#/paths/${esc(p)}/${m}/responses/${status}`);
          assert.ok(typeof value.description === 'string', `${m} ${p} ${status}: description`);
          validator(`${pointer}/content/application~1json/schema`);
          if (Number(status) >= 400 || status.endsWith('XX')) {
            assert.ok(validator(`${pointer}/content/application~1json/schema`)({ error: 'x', message: 'y', retry_after: 1 }), `${m} ${p} ${status}: the error shape`);
          }
        }
        if (op.requestBody) requestAccepted(m as Method, p as Template, {});
      }
    }
    // Every named schema compiles in strict mode; responses forbid unknown properties.
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Json>)) {
      validator(`#/components/schemas/${name}`);
      if (schema.type === 'object') assert.equal(schema.additionalProperties, false, `${name}: additionalProperties false`);
    }

    const served = await call('get', '/api/v1/openapi.json', { ip: newIp() });
    assert.equal(served.status, 200);
    assert.deepEqual(served.body, doc);
  });

  it('a full reset through the API: authenticator app proof, new password, old password dead, user notified', async () => {
    const ip = newIp();
    const { id, totp } = await seed('ann');
    const started = await start('ann@example.com', ip);
    const { flow, secret } = started;
    assert.equal(started.res.headers.location, `/api/v1/resets/${flow}`);
    assert.equal(started.res.body.state, 'choose');
    assert.equal(started.res.body.proofs_required, 1);
    assert.ok(Date.parse(String(started.res.body.expires_at)) > Date.now());
    const kinds = (started.res.body.methods as { kind: string; available: boolean }[]).map((m) => [m.kind, m.available]);
    assert.deepEqual(kinds, [['email', false], ['authenticator_app', true]], 'a weak method cannot be the only proof when a strong one exists');

    const view = await call('get', '/api/v1/resets/{flow}', { ip, flow, secret });
    assert.equal(view.status, 200);
    assert.deepEqual(view.body, Object.fromEntries(Object.entries(started.res.body).filter(([k]) => k !== 'secret')), 'the view, without the secret');

    const app = refOf(view.body, 'authenticator_app');
    let res = await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: app } });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'prove');
    assert.deepEqual(res.body.current, { ref: app, kind: 'authenticator_app', masked: 'Authenticator app' });
    res = await call('post', '/api/v1/resets/{flow}/back', { ip, flow, secret });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'choose');
    assert.equal(res.body.current, undefined);
    res = await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: app } });
    assert.equal(res.body.state, 'prove');
    res = await call('get', '/api/v1/resets/{flow}', { ip, flow, secret });
    assert.equal(res.body.state, 'prove');

    res = await call('post', '/api/v1/resets/{flow}/prove', { ip, flow, secret, body: { code: '000000' } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: 'code_wrong', message: 'That code is not right. Check it and try again.', field: 'code' });
    res = await call('post', '/api/v1/resets/{flow}/prove', { ip, flow, secret, body: { code: await totpNow(totp) } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.state, 'new_password');
    assert.equal(res.body.proofs_done, 1);

    res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: NEW, confirm: `${NEW}x` } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'password_mismatch');
    assert.equal(res.body.field, 'confirm');
    res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: 'short', confirm: 'short' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'password_too_short');
    assert.match(String(res.body.message), new RegExp(`at least ${t.services.accounts.rules.minLength} characters`));
    res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: OLD, confirm: OLD } });
    assert.equal(res.body.error, 'password_reused');
    assert.equal((await t.services.accounts.authenticate('ann', OLD, '10.1.1.1')).outcome, 'ok', 'nothing changed yet');

    res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: NEW, confirm: NEW } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.state, 'done');
    assert.equal((await t.services.accounts.authenticate('ann', NEW, '10.1.1.1')).outcome, 'ok', 'the new password works');
    assert.equal((await t.services.accounts.authenticate('ann', OLD, '10.1.1.2')).outcome, 'failed', 'the old one does not');

    res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: NEW, confirm: NEW } });
    assert.equal(res.status, 409, 'a replayed password fails');
    assert.equal(res.body.error, 'reset_already_done');
    res = await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: app } });
    assert.equal(res.status, 409);
    res = await call('get', '/api/v1/resets/{flow}', { ip, flow, secret });
    assert.equal(res.body.state, 'done');

    const mails = smtp.messages.filter((m) => /password was reset/.test(m.subject) && m.to.some((to) => to.startsWith('ann')));
    assert.deepEqual(mails.flatMap((m) => m.to).sort(), ['ann.private@example.org', 'ann@example.com']);
    const events = (await t.services.audit.recent({ limit: 1000 })).filter((e) => e.accountId === id).map((e) => e.type);
    assert.ok(events.includes('reset.completed'), events.join(','));
  });

  it('two proofs for an admin: an email code from the SMTP server, then the app; never a secret in a response', async () => {
    const ip = newIp();
    const { totp } = await seed('bea', true);
    const { flow, secret, res: started } = await start('bea', ip);
    assert.equal(started.body.proofs_required, 2);
    const email = refOf(started.body, 'email');
    const sentAt = smtp.messages.length;
    let res = await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: email } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.current, { ref: email, kind: 'email', masked: 'b•••@e•••.org', sent_to: 'b•••@e•••.org' });
    const mail = await smtp.waitFor((m) => m.to.includes('bea.private@example.org') && smtp.messages.indexOf(m) >= sentAt);
    const code = codeIn(mail, 8);
    res = await call('post', '/api/v1/resets/{flow}/prove', { ip, flow, secret, body: { code } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.state, 'choose');
    assert.equal(res.body.proofs_done, 1);
    assert.deepEqual((res.body.methods as { kind: string; available: boolean }[]).map((m) => [m.kind, m.available]), [['email', false], ['authenticator_app', true]]);
    res = await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: email } });
    assert.equal(res.status, 400, 'a proven method is not offered again');
    assert.equal(res.body.error, 'method_unknown');
    res = await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: refOf(started.body, 'authenticator_app') } });
    assert.equal(res.status, 200);
    const view = await call('get', '/api/v1/resets/{flow}', { ip, flow, secret });
    const totpCode = await totpNow(totp);
    for (const body of [started.body, res.body, view.body]) {
      const text = JSON.stringify(body);
      assert.ok(!text.includes(totp) && !text.includes(code), 'no TOTP key and no code in any view');
    }
    res = await call('post', '/api/v1/resets/{flow}/prove', { ip, flow, secret, body: { code: totpCode } });
    assert.equal(res.body.state, 'new_password');
    res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: NEW, confirm: NEW } });
    assert.equal(res.body.state, 'done');
    assert.equal((await t.services.accounts.authenticate('bea', NEW, '10.1.1.3')).outcome, 'ok');
  });

  it('an unknown identifier gets the same statuses and the same keys as a real account', async () => {
    const ip = newIp();
    await seed('cal');
    const real = await start('cal', ip);
    const fake = await start('nobody-at-all', ip);
    assert.deepEqual(keysOf(fake.res.body), keysOf(real.res.body));
    const summary = (b: Json) => (b.methods as { kind: string; available: boolean }[]).map((m) => [m.kind, m.available]);
    assert.deepEqual(summary(fake.res.body), summary(real.res.body));
    assert.equal(fake.res.body.proofs_required, real.res.body.proofs_required);

    const steps: [Res, Res][] = [];
    const both = async (fn: (f: { flow: string; secret: string }) => Promise<Res>) => {
      const pair: [Res, Res] = [await fn(real), await fn(fake)];
      steps.push(pair);
      return pair;
    };
    await both((f) => call('get', '/api/v1/resets/{flow}', { ip, ...f }));
    await both((f) => call('post', '/api/v1/resets/{flow}/choose', { ip, ...f, body: { ref: refOf(real.res.body, 'authenticator_app') } }));
    await both((f) => call('post', '/api/v1/resets/{flow}/prove', { ip, ...f, body: { code: '123456' } }));
    await both((f) => call('post', '/api/v1/resets/{flow}/password', { ip, ...f, body: { password: NEW, confirm: NEW } }));
    await both((f) => call('post', '/api/v1/resets/{flow}/back', { ip, ...f }));
    await both((f) => call('post', '/api/v1/resets/{flow}/choose', { ip, ...f, body: { ref: 'm9' } }));
    for (const [r, f] of steps) {
      assert.equal(f.status, r.status, `${JSON.stringify(r.body)} vs ${JSON.stringify(f.body)}`);
      assert.deepEqual(keysOf(f.body), keysOf(r.body));
      if (r.body.error) assert.deepEqual(f.body, r.body);
    }
  });

  it('the bearer secret binds the flow: missing, malformed, wrong or another flow\'s secret is 401 and changes nothing', async () => {
    const ip = newIp();
    await seed('dan');
    const a = await start('dan', ip);
    const b = await start('nobody-else', ip);
    const cases: [string, Call][] = [
      ['missing', { ip, flow: a.flow }],
      ['not bearer', { ip, flow: a.flow, authorization: `Basic ${Buffer.from(`x:${a.secret}`).toString('base64')}` }],
      ['empty', { ip, flow: a.flow, authorization: 'Bearer ' }],
      ['wrong', { ip, flow: a.flow, secret: `${a.secret.slice(0, -2)}xx` }],
      ["another flow's", { ip, flow: a.flow, secret: b.secret }],
    ];
    for (const [what, c] of cases) {
      for (const [method, template, body] of [
        ['get', '/api/v1/resets/{flow}', undefined],
        ['post', '/api/v1/resets/{flow}/choose', { ref: refOf(a.res.body, 'authenticator_app') }],
        ['post', '/api/v1/resets/{flow}/prove', { code: '123456' }],
        ['post', '/api/v1/resets/{flow}/back', undefined],
        ['post', '/api/v1/resets/{flow}/password', { password: NEW, confirm: NEW }],
      ] as [Method, Template, Json | undefined][]) {
        const res = await call(method, template, { ...c, ...(body ? { body } : {}) });
        assert.equal(res.status, 401, `${what} secret on ${method} ${template}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error, what === 'wrong' || what === "another flow's" ? 'reset_unknown' : 'unauthorized');
        assert.match(res.headers['www-authenticate'] ?? '', /^Bearer realm="rekey"/);
      }
    }
    const view = await call('get', '/api/v1/resets/{flow}', { ip, flow: a.flow, secret: a.secret });
    assert.equal(view.status, 200);
    assert.equal(view.body.state, 'choose', 'nothing changed');
    assert.equal((await call('get', '/api/v1/resets/{flow}', { ip, flow: b.flow, secret: b.secret })).body.state, 'choose');
    // A flow id that cannot exist is 404; an unknown but possible one is 401 like a wrong secret.
    const bad = await call('get', '/api/v1/resets/{flow}', { ip, flow: 'no!such', secret: a.secret });
    assert.equal(bad.status, 404);
    assert.equal(bad.body.error, 'not_found');
    const unknown = await call('get', '/api/v1/resets/{flow}', { ip, flow: 'A'.repeat(22), secret: a.secret });
    assert.equal(unknown.status, 401);
  });

  it('steps out of order are 409: a password before the proofs, a proof before a choice', async () => {
    const ip = newIp();
    await seed('eve');
    const { flow, secret, res: started } = await start('eve', ip);
    let res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: NEW, confirm: NEW } });
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, { error: 'reset_wrong_step', message: 'That step is not available now.' });
    res = await call('post', '/api/v1/resets/{flow}/prove', { ip, flow, secret, body: { code: '123456' } });
    assert.equal(res.status, 409);
    assert.equal(res.body.error, 'reset_wrong_step');
    res = await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: refOf(started.body, 'authenticator_app') } });
    assert.equal(res.status, 200);
    res = await call('post', '/api/v1/resets/{flow}/password', { ip, flow, secret, body: { password: NEW, confirm: NEW } });
    assert.equal(res.status, 409, 'still no password while a proof is pending');
    assert.equal((await t.services.accounts.authenticate('eve', OLD, '10.1.1.4')).outcome, 'ok', 'the password did not change');
  });

  it('bad JSON, other content types, oversized bodies and wrong types are clear 4xx JSON errors that change nothing', async () => {
    const ip = newIp();
    const { id, totp } = await seed('fay');
    const startedBefore = await auditCount('reset.started');
    const big = JSON.stringify({ identifier: 'x'.repeat(t.services.config.MAX_BODY_BYTES) });
    const starts: [Call['raw'] | undefined, unknown, number, string, string?][] = [
      [{ type: 'application/json', data: '{"identifier":' }, undefined, 400, 'body_invalid'],
      [{ type: 'application/json', data: 'null' }, undefined, 400, 'body_invalid'],
      [{ type: 'application/json', data: '[{"identifier":"fay"}]' }, undefined, 400, 'body_not_object'],
      [{ type: 'application/x-www-form-urlencoded', data: 'identifier=fay' }, undefined, 415, 'unsupported_media_type'],
      [{ type: 'text/plain', data: '{"identifier":"fay"}' }, undefined, 415, 'unsupported_media_type'],
      [{ type: 'application/json', data: big }, undefined, 413, 'payload_too_large'],
      [undefined, {}, 400, 'field_missing', 'identifier'],
      [undefined, { identifier: '   ' }, 400, 'field_missing', 'identifier'],
      [undefined, { identifier: ['fay'] }, 400, 'field_invalid', 'identifier'],
      [undefined, { identifier: { $ne: '' } }, 400, 'field_invalid', 'identifier'],
      [undefined, { identifier: 42 }, 400, 'field_invalid', 'identifier'],
      [undefined, { identifier: 'x'.repeat(321) }, 400, 'field_invalid', 'identifier'],
      [undefined, { identifier: 'fay', admin: true }, 400, 'field_unknown', 'admin'],
    ];
    for (const [raw, body, status, error, field] of starts) {
      const res = await call('post', '/api/v1/resets', { ip, ...(raw ? { raw } : { body }) });
      assert.equal(res.status, status, `${JSON.stringify(raw ?? body).slice(0, 80)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, error);
      assert.equal(res.body.field, field);
      assert.ok(String(res.body.message).length > 10);
    }
    // A chunked body without Content-Length is limited the same way.
    const chunked = await new Promise<{ status: number; body: Json }>((resolve, reject) => {
      const req = httpRequest(`${t.url}/api/v1/resets`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': ip } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Json }));
      });
      req.on('error', reject);
      for (let i = 0; i < big.length; i += 1000) req.write(big.slice(i, i + 1000));
      req.end();
    });
    assert.equal(chunked.status, 413, JSON.stringify(chunked.body));
    assert.equal(chunked.body.error, 'payload_too_large');
    assert.equal(await auditCount('reset.started'), startedBefore, 'no flow was started');

    const { flow, secret, res: started } = await start('fay', ip);
    const app = refOf(started.body, 'authenticator_app');
    assert.equal((await call('post', '/api/v1/resets/{flow}/choose', { ip, flow, secret, body: { ref: app } })).status, 200);
    const failedBefore = await auditCount('reset.proof_failed', id);
    const bad: [Template, Call['raw'] | undefined, unknown, number, string, string?][] = [
      ['/api/v1/resets/{flow}/prove', { type: 'application/json', data: '{"code": "12' }, undefined, 400, 'body_invalid'],
      ['/api/v1/resets/{flow}/prove', { type: 'application/x-www-form-urlencoded', data: 'code=123456' }, undefined, 415, 'unsupported_media_type'],
      ['/api/v1/resets/{flow}/prove', { type: 'application/json', data: JSON.stringify({ code: '1'.repeat(20_000) }) }, undefined, 413, 'payload_too_large'],
      ['/api/v1/resets/{flow}/prove', undefined, { code: 123456 }, 400, 'field_invalid', 'code'],
      ['/api/v1/resets/{flow}/prove', undefined, { code: ['123456'] }, 400, 'field_invalid', 'code'],
      ['/api/v1/resets/{flow}/prove', undefined, { answers: 'blue' }, 400, 'field_invalid', 'answers'],
      ['/api/v1/resets/{flow}/prove', undefined, { answers: [1, 2] }, 400, 'field_invalid', 'answers'],
      ['/api/v1/resets/{flow}/prove', undefined, { code: '123456', answer_1: 'x' }, 400, 'field_unknown', 'answer_1'],
      ['/api/v1/resets/{flow}/choose', undefined, { ref: [app] }, 400, 'field_invalid', 'ref'],
      ['/api/v1/resets/{flow}/choose', undefined, { ref: app, channel: 'fax' }, 400, 'field_invalid', 'channel'],
      ['/api/v1/resets/{flow}/choose', undefined, {}, 400, 'field_missing', 'ref'],
      ['/api/v1/resets/{flow}/back', undefined, { to: 'choose' }, 400, 'field_unknown', 'to'],
      ['/api/v1/resets/{flow}/back', { type: 'text/plain', data: 'back' }, undefined, 415, 'unsupported_media_type'],
      ['/api/v1/resets/{flow}/password', undefined, { password: { length: 20 }, confirm: 'x' }, 400, 'field_invalid', 'password'],
      ['/api/v1/resets/{flow}/password', undefined, { password: NEW }, 400, 'field_missing', 'confirm'],
    ];
    for (const [template, raw, body, status, error, field] of bad) {
      const res = await call('post', template, { ip, flow, secret, ...(raw ? { raw } : { body }) });
      assert.equal(res.status, status, `${template} ${JSON.stringify(raw ?? body).slice(0, 80)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, error);
      assert.equal(res.body.field, field);
    }
    const view = await call('get', '/api/v1/resets/{flow}', { ip, flow, secret });
    assert.equal(view.body.state, 'prove', 'nothing changed');
    assert.equal((view.body.current as Json).ref, app);
    assert.equal(view.body.proofs_done, 0);
    assert.equal(await auditCount('reset.proof_failed', id), failedBefore, 'no attempt was counted');
    const ok = await call('post', '/api/v1/resets/{flow}/prove', { ip, flow, secret, body: { code: await totpNow(totp) } });
    assert.equal(ok.body.state, 'new_password', 'the flow still works');
  });

  it('throttles: failed proofs block real and decoy flows alike, too many starts per IP; 429 with Retry-After', async () => {
    const ip = newIp();
    await seed('gus');
    const real = await start('gus', ip);
    const fake = await start('nobody-either', ip);
    for (const f of [real, fake]) {
      const res = await call('post', '/api/v1/resets/{flow}/choose', { ip, ...f, body: { ref: refOf(real.res.body, 'authenticator_app') } });
      assert.equal(res.status, 200);
    }
    for (let i = 1; i <= 3; i += 1) {
      const r = await call('post', '/api/v1/resets/{flow}/prove', { ip, ...real, body: { code: '123456' } });
      const f = await call('post', '/api/v1/resets/{flow}/prove', { ip, ...fake, body: { code: '123456' } });
      assert.equal(f.status, r.status, `attempt ${i}`);
      assert.equal(r.status, i < 3 ? 400 : 429, `attempt ${i}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(keysOf(f.body), keysOf(r.body));
      if (r.status === 429) {
        for (const res of [r, f]) {
          assert.equal(res.body.error, 'reset_blocked');
          assert.equal(Number(res.headers['retry-after']), res.body.retry_after);
          assert.ok(Number(res.body.retry_after) > 3000, 'blocked for RESET_BLOCK_HOURS');
        }
      }
    }
    for (const identifier of ['gus', 'nobody-either']) {
      const again = await call('post', '/api/v1/resets', { ip: newIp(), body: { identifier } });
      assert.equal(again.status, 429, `${identifier} stays blocked`);
      assert.equal(again.body.error, 'reset_blocked');
      assert.ok(Number(again.headers['retry-after']) > 0);
    }
    // RESET_STARTS_PER_IP=5 per hour from one client IP.
    const busy = newIp();
    for (let i = 0; i < 5; i += 1) assert.equal((await call('post', '/api/v1/resets', { ip: busy, body: { identifier: `someone-${i}` } })).status, 201);
    const over = await call('post', '/api/v1/resets', { ip: busy, body: { identifier: 'someone-else' } });
    assert.equal(over.status, 429);
    assert.equal(over.body.error, 'reset_too_many_starts');
    assert.equal(Number(over.headers['retry-after']), over.body.retry_after);
    assert.equal((await call('post', '/api/v1/resets', { ip: newIp(), body: { identifier: 'someone-else' } })).status, 201, 'another IP is not throttled');
  });

  it('other paths and methods under /api/v1/resets answer JSON errors too', async () => {
    const ip = newIp();
    const { flow, secret } = await start('nobody-here', ip);
    const errorSchema = validator('#/components/schemas/Error');
    const cases: [string, string, number, string][] = [
      ['get', '/api/v1/resets', 405, 'method_not_allowed'],
      ['delete', `/api/v1/resets/${flow}`, 405, 'method_not_allowed'],
      ['get', `/api/v1/resets/${flow}/prove`, 405, 'method_not_allowed'],
      ['post', `/api/v1/resets/${flow}/skip`, 404, 'not_found'],
      ['get', '/api/v1/resets/a/b/c', 404, 'not_found'],
    ];
    for (const [method, path, status, error] of cases) {
      const res = await request(t.url)[method as 'get' | 'post' | 'delete'](path).set('Authorization', `Bearer ${secret}`).set('X-Forwarded-For', ip);
      const body = res.body as Json;
      assert.equal(res.status, status, `${method} ${path}`);
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.ok(errorSchema(body), `${method} ${path}: ${JSON.stringify(body)}`);
      assert.equal(body.error, error);
      if (status === 405) assert.ok(res.headers.allow, 'Allow header');
    }
  });

  it('every documented operation was exercised with its success status', function () {
    const successes = Object.entries(doc.paths).flatMap(([p, item]) =>
      Object.entries(item)
        .filter(([m]) => HTTP_METHODS.includes(m))
        .map(([m, op]) => `${m} ${p} ${Object.keys((op as Json).responses as Json).find((s) => s.startsWith('2'))}`),
    );
    if (exercised.size === 0) this.skip();
    for (const s of successes) assert.ok(exercised.has(s), `not exercised: ${s}`);
  });
});
