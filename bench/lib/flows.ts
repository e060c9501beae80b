/**
 * What a relying party and a browser do, by hand: authorization code + PKCE through the sign-in
 * pages, the token exchange, refresh grants, and the reset API. Used against rekey and against
 * the bare oidc-provider baseline (same client, same parameters).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { CookieJar, expectStatus, hidden, location, send, type Reply } from './http.ts';

export const CLIENT_ID = 'bench-rp';
export const CLIENT_SECRET = 'bench-rp-secret-that-is-long-enough-0123456789';
/** Nothing listens there: the flow stops at the Location header. */
export const REDIRECT_URI = 'https://rp.bench.invalid/callback';
export const SCOPE = 'openid email profile groups offline_access';

export function clientEntry() {
  return {
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    name: 'Bench App',
    redirect_uris: [REDIRECT_URI],
    first_party: true,
    grant_types: ['authorization_code', 'refresh_token'],
  };
}

/**
 * Where a virtual client sends its requests: the server's address, and the headers a
 * TLS-terminating proxy in front of it would add (https, the client's own IP).
 */
export interface Target {
  /** http://127.0.0.1:<port> the requests go to. */
  base: string;
  /** The issuer the server was started with (its absolute redirects carry it). */
  issuer: string;
  headers: Record<string, string>;
}

export function targetFor(base: string, issuer: string, clientNo: number): Target {
  const ip = `10.${(clientNo >> 16) & 255}.${(clientNo >> 8) & 255}.${clientNo & 255}`;
  return { base, issuer, headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': ip, 'user-agent': 'rekey-bench/1' } };
}

/** A Location from the server, sent to this target's process instead of the issuer's origin. */
function local(t: Target, url: string): string {
  return url.startsWith(t.issuer) ? t.base + url.slice(t.issuer.length) : url;
}

function get(t: Target, url: string, jar?: CookieJar): Promise<Reply> {
  return send(local(t, url), { headers: t.headers, ...(jar ? { jar } : {}) });
}

function post(t: Target, url: string, form: Record<string, string>, jar?: CookieJar, headers: Record<string, string> = {}): Promise<Reply> {
  return send(local(t, url), { form, headers: { ...t.headers, ...headers }, ...(jar ? { jar } : {}) });
}

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

export interface AuthRequest {
  url: string;
  verifier: string;
  state: string;
}

export function authRequest(t: Target): AuthRequest {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(12));
  const q = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce: b64url(randomBytes(12)),
  });
  return { url: `${t.issuer}/auth?${q}`, verifier, state };
}

export interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
}

const basic = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;

/** The callback: checks state, exchanges the code (client_secret_basic + PKCE verifier). */
export async function exchange(t: Target, req: AuthRequest, callback: string): Promise<Tokens> {
  const cb = new URL(callback);
  if (cb.searchParams.get('state') !== req.state) throw new Error(`callback state mismatch: ${callback}`);
  const code = cb.searchParams.get('code');
  if (!code) throw new Error(`no code in callback: ${callback}`);
  const res = expectStatus(
    await post(t, `${t.issuer}/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: req.verifier }, undefined, { authorization: basic }),
    200,
  );
  return JSON.parse(res.text) as Tokens;
}

export async function refresh(t: Target, refreshToken: string): Promise<Tokens> {
  const res = expectStatus(await post(t, `${t.issuer}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, undefined, { authorization: basic }), 200);
  return JSON.parse(res.text) as Tokens;
}

/** GET /auth → the interaction page's URL (cookies in the jar). */
export async function startInteraction(t: Target, jar: CookieJar): Promise<{ req: AuthRequest; interaction: string }> {
  const req = authRequest(t);
  const r = expectStatus(await get(t, req.url, jar), 303, 302);
  return { req, interaction: location(r, t.issuer) };
}

/** Follows redirects (GET) until the relying party's callback; returns it. */
async function toCallback(t: Target, from: string, jar: CookieJar): Promise<string> {
  let url = from;
  for (let i = 0; i < 6; i += 1) {
    if (url.startsWith(REDIRECT_URI)) return url;
    const r = await get(t, url, jar);
    if (r.status !== 303 && r.status !== 302) throw new Error(`expected a redirect on the way to the callback at ${url}, got ${r.status}: ${r.text.slice(0, 300)}`);
    url = location(r, t.issuer);
  }
  throw new Error('too many redirects');
}

export interface RekeyUser {
  login: string;
  password: string;
  /** Base32 TOTP secret when the sign-in asks for the authenticator app. */
  totp?: string;
}

/**
 * rekey: sign-in page → password → (second factor: chooser → authenticator code) → callback
 * → token exchange. Every page and form as a browser would use them.
 */
export async function rekeySignIn(t: Target, user: RekeyUser): Promise<Tokens> {
  const jar = new CookieJar();
  const { req, interaction } = await startInteraction(t, jar);
  const page = expectStatus(await get(t, interaction, jar), 200);
  const csrf = hidden(page.text, 'csrf');
  let r = expectStatus(await post(t, `${interaction}/password`, { csrf, identifier: user.login, password: user.password }, jar), 303);
  let next = location(r, t.issuer);
  if (user.totp) {
    const chooser = expectStatus(await get(t, next, jar), 200);
    if (!chooser.text.includes('/second-factor')) throw new Error(`expected the second-factor chooser: ${chooser.text.slice(0, 300)}`);
    expectStatus(await post(t, `${interaction}/second-factor`, { csrf, action: 'choose', ref: 'f0' }, jar), 303);
    expectStatus(await get(t, interaction, jar), 200);
    r = expectStatus(await post(t, `${interaction}/second-factor`, { csrf, action: 'finish', code: totpCode(user.totp) }, jar), 303);
    next = location(r, t.issuer);
  }
  return exchange(t, req, await toCallback(t, next, jar));
}

/** The bare baseline: its sign-in page, a login without hashing, callback, token exchange. */
export async function bareSignIn(t: Target, login: string): Promise<Tokens> {
  const jar = new CookieJar();
  const { req, interaction } = await startInteraction(t, jar);
  const page = expectStatus(await get(t, interaction, jar), 200);
  const csrf = hidden(page.text, 'csrf');
  const r = expectStatus(await post(t, `${interaction}/login`, { csrf, login, password: 'not-checked' }, jar), 303);
  return exchange(t, req, await toCallback(t, location(r, t.issuer), jar));
}

/** An interaction held open at its sign-in page (for page renders). */
export async function openSigninPage(t: Target): Promise<{ jar: CookieJar; interaction: string; csrf: string }> {
  const jar = new CookieJar();
  const { interaction } = await startInteraction(t, jar);
  const page = expectStatus(await get(t, interaction, jar), 200);
  return { jar, interaction, csrf: hidden(page.text, 'csrf') };
}

export async function renderPage(t: Target, s: { jar: CookieJar; interaction: string }): Promise<void> {
  const r = await get(t, s.interaction, s.jar);
  if (r.status !== 200 || !r.text.includes('csrf')) throw new Error(`sign-in page: ${r.status} ${r.text.slice(0, 200)}`);
}

/** rekey: an interaction of a TOTP user parked at the authenticator-code page. */
export async function openTotpPage(t: Target, user: RekeyUser): Promise<{ jar: CookieJar; interaction: string; csrf: string }> {
  const s = await openSigninPage(t);
  expectStatus(await post(t, `${s.interaction}/password`, { csrf: s.csrf, identifier: user.login, password: user.password }, s.jar), 303);
  expectStatus(await post(t, `${s.interaction}/second-factor`, { csrf: s.csrf, action: 'choose', ref: 'f0' }, s.jar), 303);
  const proof = expectStatus(await get(t, s.interaction, s.jar), 200);
  if (!proof.text.includes('name="code"')) throw new Error(`expected the code page: ${proof.text.slice(0, 300)}`);
  return s;
}

/** A wrong authenticator code: the whole check runs (and counts toward the lockout), the page comes back with the error. */
export async function wrongTotp(t: Target, s: { jar: CookieJar; interaction: string; csrf: string }, path: string): Promise<void> {
  const r = await post(t, `${s.interaction}/${path}`, { csrf: s.csrf, action: 'finish', code: '000000' }, s.jar);
  if (r.status !== 400) throw new Error(`wrong TOTP code: expected 400, got ${r.status}: ${r.text.slice(0, 200)}`);
}

// --- reset API -------------------------------------------------------------------------------

export interface ResetFlow {
  flow: string;
  secret: string;
}

export async function resetStart(t: Target, base: string, identifier: string): Promise<ResetFlow & { methods: { ref: string; kind: string }[] }> {
  const r = await send(`${t.base}${base}`, { json: { identifier }, headers: t.headers });
  if (r.status !== 201) throw new Error(`reset start: ${r.status} ${r.text.slice(0, 200)}`);
  return JSON.parse(r.text) as ResetFlow & { methods: { ref: string; kind: string }[] };
}

export async function resetChoose(t: Target, base: string, f: ResetFlow, ref: string): Promise<void> {
  const r = await send(`${t.base}${base}/${f.flow}/choose`, { json: { ref }, headers: { ...t.headers, authorization: `Bearer ${f.secret}` } });
  if (r.status !== 200) throw new Error(`reset choose: ${r.status} ${r.text.slice(0, 200)}`);
}

/** A wrong code: counted like any guess (attempts, failed proofs), answered 400 code_wrong. */
export async function resetWrongCode(t: Target, base: string, f: ResetFlow): Promise<void> {
  const r = await send(`${t.base}${base}/${f.flow}/prove`, { json: { code: '00000000' }, headers: { ...t.headers, authorization: `Bearer ${f.secret}` } });
  if (r.status !== 400 || !r.text.includes('code_wrong')) throw new Error(`reset prove: ${r.status} ${r.text.slice(0, 200)}`);
}

// --- TOTP (RFC 6238, SHA-1, 6 digits, 30 s) ----------------------------------------------------

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(s: string): Buffer {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of s.replace(/=+$/, '')) {
    value = (value << 5) | B32.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function totpCode(secret: string, at = Date.now()): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = createHmac('sha1', unbase32(secret)).update(counter).digest();
  const off = mac[mac.length - 1]! & 15;
  const n = ((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).toString();
  return n.padStart(6, '0');
}
