/**
 * The bare baseline: oidc-provider alone, with an in-memory adapter (a Map), the same client,
 * signing key, claims, scopes, features, PKCE rule, TTLs and first-party grant as rekey, and
 * the least a real deployment needs around it:
 *
 * - GET  /interaction/:uid        a small sign-in page (interaction details + HTML)
 * - POST /interaction/:uid/login  a login that does no hashing (interactionResult)
 * - POST /interaction/:uid/otp    the same page after a TOTP check (HMAC-SHA1, ±1 step) that fails
 * - POST /bare/resets             a reset flow in a Map (lookup, ids, keyed hash) → 201 JSON
 * - POST /bare/resets/:flow/prove a code check against that Map (secret, attempts, keyed hash) → 400 JSON
 *
 * The last three have no oidc-provider counterpart; they are the floor any implementation of
 * those steps pays on this stack (Koa routing, body parsing, crypto, JSON), with nothing stored
 * outside the process. Run by bench/run.ts as its own process.
 */
import { createServer } from 'node:http';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import Provider, { type Adapter, type AdapterPayload, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';

const env = process.env;
const issuer = env.ISSUER!;
const port = Number(env.PORT);
const jwks = JSON.parse(env.JWKS!) as Configuration['jwks'];
const cookieKeys = env.COOKIE_KEYS!.split(',');
const ttl = JSON.parse(env.BENCH_TTL!) as Record<string, number>;
const client = JSON.parse(env.BENCH_CLIENT!) as { client_id: string; client_secret: string; redirect_uris: string[]; name: string };
const key = randomBytes(32);
const totpKey = Buffer.from('bench-totp-secret-0123');

/**
 * oidc-provider's own memory adapter keeps at most 1000 entries (an LRU): under load it would
 * evict grants and refresh tokens. This one is the same idea without the bound: payloads kept
 * as objects in a Map, expiry checked on read.
 */
const storage = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
const byUid = new Map<string, string>();
const byGrant = new Map<string, Set<string>>();

class MapAdapter implements Adapter {
  constructor(private readonly model: string) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const key = this.key(id);
    storage.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (payload.uid) byUid.set(payload.uid, id);
    if (payload.grantId) {
      let set = byGrant.get(payload.grantId);
      if (!set) byGrant.set(payload.grantId, (set = new Set()));
      set.add(key);
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const entry = storage.get(this.key(id));
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = byUid.get(uid);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(): Promise<AdapterPayload | undefined> {
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const entry = storage.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    storage.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of byGrant.get(grantId) ?? []) storage.delete(key);
    byGrant.delete(grantId);
  }
}

const configuration: Configuration = {
  adapter: MapAdapter,
  clients: [
    {
      client_id: client.client_id,
      client_secret: client.client_secret,
      client_name: client.name,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: client.redirect_uris,
      post_logout_redirect_uris: [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
  ],
  jwks,
  cookies: {
    keys: cookieKeys,
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  claims: {
    amr: null,
    acr: null,
    auth_time: null,
    sid: null,
    openid: ['sub', 'amr', 'acr'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  ttl,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      claims: () => ({ sub, name: sub, preferred_username: sub, email: `${sub}@example.com`, email_verified: false, groups: ['staff'] }),
    };
  },
  // First-party: the grant without a consent page, as rekey does it.
  async loadExistingGrant(ctx: KoaContextWithOIDC) {
    const { oidc } = ctx;
    const clientId = oidc.client!.clientId;
    const grantId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(clientId);
    const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    const grant = existing ?? new oidc.provider.Grant({ clientId, accountId: oidc.session!.accountId! });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
    return grant;
  },
  issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
};

const provider = new Provider(issuer, configuration);
provider.proxy = true;

const csrfOf = (uid: string): string => createHmac('sha256', key).update(uid).digest('base64url').slice(0, 24);
const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid: string, clientName: string, error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head><body><main>
<h1>Sign in</h1><p>Sign in to continue to ${esc(clientName)}</p>${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login"><input type="hidden" name="csrf" value="${csrfOf(uid)}">
<label for="login">Username</label><input id="login" name="login" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password">
<label for="code">Code</label><input id="code" name="code" inputmode="numeric">
<button type="submit">Sign in</button></form></main></body></html>`;
}

function checkCsrf(ctx: { request: { body?: unknown } }, uid: string): boolean {
  const sent = (ctx.request.body as Record<string, string> | undefined)?.csrf ?? '';
  const want = csrfOf(uid);
  return sent.length === want.length && timingSafeEqual(Buffer.from(sent), Buffer.from(want));
}

function totpAt(step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', totpKey).update(counter).digest();
  const off = mac[mac.length - 1]! & 15;
  return ((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

interface Flow {
  secretHash: string;
  codeHash: string;
  attempts: number;
  expiresAt: number;
  methods: { ref: string; kind: string; masked: string }[];
}
const flows = new Map<string, Flow>();
const digest = (what: string, value: string): string => createHmac('sha256', key).update(`${what}:${value}`).digest('base64url');

const router = new Router();
const body = bodyParser({ enableTypes: ['form', 'json'] });

router.get('/interaction/:uid', async (ctx) => {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const c = await provider.Client.find(String(details.params.client_id));
  ctx.set('cache-control', 'no-store');
  ctx.type = 'html';
  ctx.body = page(details.uid, c?.clientName ?? '');
});

router.post('/interaction/:uid/login', body, async (ctx) => {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (!checkCsrf(ctx, details.uid)) ctx.throw(403);
  const login = String((ctx.request.body as Record<string, string>).login ?? '');
  const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: login, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(redirectTo);
});

router.post('/interaction/:uid/otp', body, async (ctx) => {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (!checkCsrf(ctx, details.uid)) ctx.throw(403);
  const code = String((ctx.request.body as Record<string, string>).code ?? '');
  const step = Math.floor(Date.now() / 30_000);
  const ok = [step - 1, step, step + 1].some((s) => {
    const want = totpAt(s);
    return code.length === want.length && timingSafeEqual(Buffer.from(code), Buffer.from(want));
  });
  const c = await provider.Client.find(String(details.params.client_id));
  ctx.set('cache-control', 'no-store');
  ctx.status = ok ? 200 : 400;
  ctx.type = 'html';
  ctx.body = page(details.uid, c?.clientName ?? '', ok ? undefined : 'The code is wrong.');
});

router.post('/bare/resets', body, async (ctx) => {
  const identifier = String((ctx.request.body as Record<string, string>).identifier ?? '').normalize('NFKC').trim().toLowerCase();
  const handle = randomBytes(16).toString('base64url');
  const secret = randomBytes(24).toString('base64url');
  const methods = [
    { ref: 'm0', kind: 'email', masked: `${identifier.slice(0, 1)}•••@e•••.com` },
    { ref: 'm1', kind: 'authenticator_app', masked: 'Authenticator app' },
  ];
  flows.set(handle, { secretHash: digest('secret', secret), codeHash: digest('code', '12345678'), attempts: 0, expiresAt: Date.now() + 15 * 60_000, methods });
  ctx.set('cache-control', 'no-store');
  ctx.status = 201;
  ctx.body = { flow: handle, secret, state: 'choose', expires_at: new Date(Date.now() + 15 * 60_000).toISOString(), methods: methods.map((m) => ({ ...m, available: true })), proofs_done: 0, proofs_required: 1 };
});

router.post('/bare/resets/:flow/prove', body, async (ctx) => {
  ctx.set('cache-control', 'no-store');
  const flow = flows.get(ctx.params.flow!);
  const secret = (ctx.get('authorization').match(/^Bearer (.+)$/) ?? [])[1] ?? '';
  if (!flow || flow.expiresAt <= Date.now() || digest('secret', secret) !== flow.secretHash) {
    ctx.status = 401;
    ctx.body = { error: 'reset_unknown', message: 'unknown' };
    return;
  }
  flow.attempts += 1;
  const code = String((ctx.request.body as Record<string, string>).code ?? '');
  const ok = digest('code', code) === flow.codeHash;
  ctx.status = ok ? 200 : 400;
  ctx.body = ok ? { state: 'choose' } : { error: 'code_wrong', message: 'The code is wrong.', field: 'code' };
});

provider.use(router.routes());
provider.use(router.allowedMethods());

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`baseline listening on ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
