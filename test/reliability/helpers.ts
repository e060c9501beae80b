/**
 * Shared by the reliability suites (races, hostile input, soak): accounts seeded with chosen
 * methods, sign-in up to a stage, reset starts through the pages and the API, audit reads.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { generateSecret } from 'otplib';
import { Browser, formAction, type Page } from '../support/browser.ts';
import type { RelyingParty, RpFlow } from '../support/rp.ts';
import type { TestApp } from '../support/test-app.ts';
import type { MethodKind, MethodRecord } from '../../src/domain/methods/types.ts';
import type { StoredAuditEvent } from '../../src/domain/audit.ts';

export const PASSWORD = 'granite-swallow-circles-twice';

export interface Seeded {
  id: string;
  login: string;
  /** Base32 TOTP secret, when an authenticator app was seeded. */
  totp?: string;
  /** Recovery codes in clear, when a set was seeded. */
  codes?: string[];
  /** The phone number (E.164), when a mobile phone was seeded. */
  phone?: string;
  /** The email method's address, when one was seeded. */
  email?: string;
}

let phones = 0;
/** A Polish mobile number no other test in this process uses. */
export function uniquePhone(): string {
  phones += 1;
  return `+4860${String(process.pid % 100).padStart(2, '0')}${String(phones).padStart(5, '0')}`;
}

/** An account with the given methods written straight into the store (bootstrap already proven). */
export async function seedAccount(t: TestApp, login: string, kinds: MethodKind[], options: { admin?: boolean; password?: string } = {}): Promise<Seeded> {
  const { services } = t;
  const { account } = await services.accounts.create({ login, email: `${login}@example.com`, password: options.password ?? PASSWORD, admin: options.admin ?? false });
  const now = services.clock();
  const seeded: Seeded = { id: account.id, login };
  const methods: MethodRecord[] = [];
  for (const kind of kinds) {
    const id = randomBytes(6).toString('hex');
    if (kind === 'email') {
      seeded.email = `${login}.private@example.org`;
      methods.push({ id, kind, address: seeded.email, registeredAt: now, confirmedAt: now });
    } else if (kind === 'mobile_phone') {
      seeded.phone = uniquePhone();
      methods.push({ id, kind, e164: seeded.phone, country: 'PL', registeredAt: now, confirmedAt: now });
    } else if (kind === 'authenticator_app') {
      seeded.totp = generateSecret();
      methods.push({ id, kind, secret: services.box.seal(seeded.totp), lastStep: 0, registeredAt: now, confirmedAt: now });
    } else if (kind === 'recovery_codes') {
      const method = services.methods.get('recovery_codes')!;
      const ctx = { accountId: account.id, login, admin: false, clock: services.clock, ip: '127.0.0.1', purpose: 'register' };
      const started = await method.startRegistration(ctx, {});
      assert.ok(started.ok);
      const finished = await method.finishRegistration(ctx, started.value.pending, { saved: 'yes' });
      assert.ok(finished.ok);
      seeded.codes = started.value.display.codes!;
      methods.push(finished.value);
    } else {
      throw new Error(`seedAccount: ${kind} is not supported`);
    }
  }
  await services.accounts.update(account.id, (a) => ({ ...a, methods, bootstrapProvenAt: now }));
  return seeded;
}

/** Every audit event of one account (or all when `accountId` is undefined), oldest first. */
export async function auditOf(t: TestApp, accountId?: string): Promise<StoredAuditEvent[]> {
  const out: StoredAuditEvent[] = [];
  for await (const e of t.services.audit.scan()) if (accountId === undefined || e.accountId === accountId) out.push(e);
  return out.reverse();
}

export async function countEvents(t: TestApp, accountId: string, type: string, outcome?: string): Promise<number> {
  return (await auditOf(t, accountId)).filter((e) => e.type === type && (outcome === undefined || e.outcome === outcome)).length;
}

export interface SignIn {
  browser: Browser;
  flow: RpFlow;
  page: Page;
}

/** Starts an authorization request at the RP and answers the password page. */
export async function signInWithPassword(t: TestApp, rp: RelyingParty, login: string, password = PASSWORD, browser = new Browser(t.url)): Promise<SignIn> {
  const flow = await rp.start();
  const signin = await browser.open(flow.url.toString(), t.redirectUri);
  assert.equal(signin.status, 200, signin.text.slice(0, 300));
  const page = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: login, password }, t.redirectUri);
  return { browser, flow, page };
}

/** The `ref` of the second-factor chooser's option labelled `label` (text channel for phones). */
export function factorRef(html: string, label: string): string {
  const m = new RegExp(`id="ref-([^"]+)" value="\\1"[^>]*>\\s*<label for="ref-\\1">${label}`).exec(html);
  if (!m) throw new Error(`no "${label}" option in page:\n${html.slice(0, 2000)}`);
  return m[1]!;
}

/** The `ref` of a reset choose page's method labelled `label`. */
export function resetRef(html: string, label: string): string {
  const m = new RegExp(`id="ref-(m\\d+)" value="\\1"[^>]*>\\s*<label[^>]*>${label}`).exec(html);
  if (!m) throw new Error(`no method "${label}" offered:\n${html.slice(0, 3000)}`);
  return m[1]!;
}

/** Opens /reset and submits the identifier: the choose page. */
export async function startResetPage(browser: Browser, identifier: string): Promise<Page> {
  const form = await browser.open('/reset');
  const page = await browser.submit(form, '/reset', { identifier });
  assert.equal(page.status, 200, page.text.slice(0, 500));
  return page;
}

/** The reset flow cookie a browser holds: `{ handle, secret }` (the API's flow id and bearer secret). */
export function resetBinding(browser: Browser, base: string): { flow: string; secret: string } {
  const cookie = browser.agent.jar.getCookie('rekey_reset', { domain: new URL(base).hostname, path: '/reset', secure: false, script: false });
  assert.ok(cookie, 'the browser holds a reset flow');
  const [flow, secret] = decodeURIComponent(cookie.value).split('.');
  return { flow: flow!, secret: secret! };
}

export interface ApiRes {
  status: number;
  body: Record<string, unknown>;
}

/** One JSON API call. */
export async function api(t: Pick<TestApp, 'url'>, method: 'get' | 'post', path: string, options: { secret?: string; body?: unknown; ip?: string } = {}): Promise<ApiRes> {
  let req = method === 'get' ? request(t.url).get(path) : request(t.url).post(path);
  req = req.set('Accept', 'application/json');
  if (options.ip) req = req.set('X-Forwarded-For', options.ip);
  if (options.secret) req = req.set('Authorization', `Bearer ${options.secret}`);
  if (options.body !== undefined) req = req.set('Content-Type', 'application/json').send(JSON.stringify(options.body));
  const res = await req;
  return { status: res.status, body: (res.body ?? {}) as Record<string, unknown> };
}

/** Starts a reset through the API; returns the flow, its secret and the first view. */
export async function startResetApi(t: TestApp, identifier: string): Promise<{ flow: string; secret: string; view: Record<string, unknown> }> {
  const res = await api(t, 'post', '/api/v1/resets', { body: { identifier } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { flow: String(res.body.flow), secret: String(res.body.secret), view: res.body };
}

export function apiRef(view: Record<string, unknown>, kind: MethodKind): string {
  const m = (view.methods as { ref: string; kind: string }[]).find((x) => x.kind === kind);
  assert.ok(m, `no ${kind} in ${JSON.stringify(view.methods)}`);
  return m.ref;
}

/** Runs `n` copies of `fn` at once. */
export function together<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Counts statuses: `{ 303: 1, 409: 49 }`. */
export function tally(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}
