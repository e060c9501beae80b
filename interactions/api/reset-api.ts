/**
 * "Forgot password?" as a JSON API for mobile and other non-browser clients: the same state
 * machine as the pages (`ResetFlows`), described in docs/openapi.json and served at
 * GET /api/v1/openapi.json.
 *
 *   POST /api/v1/resets                      { identifier }        → 201 flow, secret, view
 *   GET  /api/v1/resets/{flow}                                     → 200 view
 *   POST /api/v1/resets/{flow}/choose        { ref, channel? }     → 200 view (state prove)
 *   POST /api/v1/resets/{flow}/prove         { code?, answers?, credential? } → 200 view
 *   POST /api/v1/resets/{flow}/back                                → 200 view (state choose)
 *   POST /api/v1/resets/{flow}/password      { password, confirm } → 200 view (state done)
 *
 * A flow is bound by its unguessable id plus the secret returned once at creation, sent as
 * `Authorization: Bearer <secret>` on every later call. Unknown identifiers get decoy flows
 * (ResetFlows makes them), so statuses and shapes never tell whether an account exists.
 * Every answer is JSON with `Cache-Control: no-store`; every error has one shape:
 * `{ error, message, field?, retry_after? }`. Bodies are JSON objects only, size-limited,
 * with known fields of the documented types; anything else is a 4xx that changes nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Services } from '../../src/services.ts';
import type { ResetOutcome, ResetView } from '../../src/domain/reset/reset-flows.ts';
import { RekeyError } from '../../src/errors.ts';
import { parseBody } from '../http/body.ts';
import { clientIp } from '../http/client-ip.ts';
import { toRekeyError } from '../http/error-handler.ts';
import { noStore } from '../http/security-headers.ts';
import { hasMessage, t } from '../../src/i18n/index.ts';

export const API_BASE = '/api/v1';
/** Name of the catch-all route answering unknown paths and methods under /api/v1/resets with JSON. */
export const FALLBACK_ROUTE = 'reset-api-fallback';

/** Field limits, mirrored in docs/openapi.json. */
export const LIMITS = { identifier: 320, ref: 40, code: 1024, answer: 1024, answers: 20, credential: 8192 } as const;

/**
 * Texts of the API's error ids: the domain's (code_wrong, reset_expired, …) by their own key,
 * the API's own (unauthorized, field_missing, …) as `api.<id>` in the catalog.
 */
function messageFor(id: string, vars: Record<string, string | number> = {}): string {
  if (hasMessage(id)) return t(id, vars);
  return hasMessage(`api.${id}`) ? t(`api.${id}`, vars) : id;
}

/** A 4xx of this API: its id is also the key of its message. */
class ApiProblem extends RekeyError {
  constructor(
    id: string,
    status: number,
    readonly vars: Record<string, string | number> = {},
    readonly field?: string,
    readonly retryAfter?: number,
  ) {
    super(id, status, messageFor(id, vars));
  }
}

interface ErrorBody {
  error: string;
  message: string;
  field?: string;
  retry_after?: number;
}

function sendError(ctx: Context, status: number, body: ErrorBody): void {
  ctx.status = status;
  if (status === 429 && body.retry_after !== undefined) ctx.set('Retry-After', String(body.retry_after));
  if (status === 401) {
    ctx.set('WWW-Authenticate', body.error === 'reset_unknown' ? 'Bearer realm="rekey", error="invalid_token"' : 'Bearer realm="rekey"');
  }
  ctx.body = body;
}

/** JSON, no-store, and this API's error shape for every 4xx; 5xx go on to the app's error handler (same shape, logged). */
async function apiResponse(ctx: Context, next: Next): Promise<void> {
  noStore(ctx);
  try {
    await next();
  } catch (err) {
    const e = toRekeyError(err);
    if (e.status >= 500) throw err;
    if (e instanceof ApiProblem) {
      return sendError(ctx, e.status, {
        error: e.id,
        message: e.message,
        ...(e.field ? { field: e.field } : {}),
        ...(e.retryAfter !== undefined ? { retry_after: e.retryAfter } : {}),
      });
    }
    // From parseBody and friends: map the shared ids onto this API's texts.
    const id = e.id === 'bad_request' ? 'body_invalid' : e.id;
    const retryAfter = typeof e.details.retryAfter === 'number' ? e.details.retryAfter : undefined;
    return sendError(ctx, e.status, {
      error: id,
      message: hasMessage(`api.${id}`) ? messageFor(id) : e.standardMessage && hasMessage(`error.${id}`) ? t(`error.${id}`) : e.message,
      ...(e.status === 429 ? { retry_after: retryAfter ?? 60 } : {}),
    });
  }
}

/** The body as a JSON object: absent → {}, anything but `application/json` → 415, not an object → 400. */
function jsonBody(maxBytes: number) {
  const parse = parseBody(maxBytes);
  return async function json(ctx: Context, next: Next): Promise<void> {
    const length = ctx.get('content-length');
    const hasBody = ctx.get('transfer-encoding') !== '' || (length !== '' && length !== '0');
    const request = ctx.request as unknown as { body?: unknown };
    if (!hasBody) {
      request.body = {};
      return next();
    }
    if (Number(length || 0) > maxBytes) throw new ApiProblem('payload_too_large', 413);
    if (!ctx.is('application/json')) throw new ApiProblem('unsupported_media_type', 415);
    await parse(ctx, async () => {
      const body = request.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiProblem('body_not_object', 400);
      await next();
    });
  };
}

type FieldSpec =
  | { type: 'string'; required?: boolean; maxLength?: number; enum?: readonly string[]; trim?: boolean }
  | { type: 'strings'; maxItems: number; maxLength: number };

/** Reads exactly the fields of `spec` from the JSON body: unknown fields, wrong types and missing ones are 400s naming the field. */
function readFields<S extends Record<string, FieldSpec>>(ctx: Context, spec: S): { [K in keyof S]?: S[K] extends { type: 'strings' } ? string[] : string } {
  const body = (ctx.request as unknown as { body?: Record<string, unknown> }).body ?? {};
  for (const key of Object.keys(body)) {
    if (!Object.prototype.hasOwnProperty.call(spec, key)) throw new ApiProblem('field_unknown', 400, { field: key.slice(0, 40) }, key.slice(0, 40));
  }
  const out: Record<string, string | string[]> = {};
  for (const [name, s] of Object.entries(spec)) {
    const value = Object.prototype.hasOwnProperty.call(body, name) ? body[name] : undefined;
    if (s.type === 'strings') {
      if (value === undefined) continue;
      const expected = t('api.expected_strings', { items: s.maxItems, length: s.maxLength });
      if (!Array.isArray(value) || value.length > s.maxItems || !value.every((v) => typeof v === 'string' && v.length <= s.maxLength)) {
        throw new ApiProblem('field_invalid', 400, { field: name, expected }, name);
      }
      out[name] = value as string[];
      continue;
    }
    if (value === undefined) {
      if (s.required) throw new ApiProblem('field_missing', 400, { field: name }, name);
      continue;
    }
    const expected = s.enum
      ? t('api.expected_one_of', { values: s.enum.map((e) => `"${e}"`).join(', ') })
      : s.maxLength !== undefined
        ? t('api.expected_string', { length: s.maxLength })
        : t('api.expected_any_string');
    if (typeof value !== 'string' || (s.maxLength !== undefined && value.length > s.maxLength) || (s.enum && !s.enum.includes(value))) {
      throw new ApiProblem('field_invalid', 400, { field: name, expected }, name);
    }
    const v = s.trim ? value.trim() : value;
    if (s.required && v === '') throw new ApiProblem('field_missing', 400, { field: name }, name);
    out[name] = v;
  }
  return out as { [K in keyof S]?: S[K] extends { type: 'strings' } ? string[] : string };
}

/** The flow's public view: never a TOTP key, a QR code or a code. */
export function viewJson(view: ResetView) {
  const current = view.state === 'prove' ? view.current : undefined;
  return {
    flow: view.handle,
    state: view.state,
    expires_at: new Date(view.expiresAt).toISOString(),
    methods: view.methods.map((m) => ({ ref: m.ref, kind: m.kind, masked: m.masked, available: m.available })),
    proofs_done: view.proofsDone,
    proofs_required: view.proofsRequired,
    ...(current
      ? {
          current: {
            ref: current.ref,
            kind: current.kind,
            masked: current.masked,
            ...(current.display.sentTo ? { sent_to: current.display.sentTo } : {}),
            ...(current.display.questions ? { questions: current.display.questions.map((q) => ({ id: q.id, text: q.text })) } : {}),
            // Security key: the WebAuthn request options for navigator.credentials.get (a challenge, not a secret).
            ...(current.display.webauthn ? { webauthn: current.display.webauthn.options } : {}),
          },
        }
      : {}),
  };
}

/** A failed outcome as this API's error (the view is not repeated: GET the flow for it). */
function outcomeError(outcome: Extract<ResetOutcome, { ok: false }>): ApiProblem {
  const { error } = outcome;
  const vars = error.vars ?? {};
  let retryAfter: number | undefined;
  if (outcome.status === 429) {
    const fromVars = typeof vars.minutes === 'number' ? vars.minutes * 60 : typeof vars.hours === 'number' ? vars.hours * 3600 : undefined;
    retryAfter = Math.max(1, outcome.retryAfterSeconds ?? fromVars ?? 60);
  }
  // The pages' field names (answer_1, question_2) are one `answers` array here.
  const field = error.field && /^(answer|question)_\d+$/.test(error.field) ? 'answers' : error.field;
  return new ApiProblem(error.id, outcome.status, vars, field, retryAfter);
}

/** Where docs/openapi.json is, from the sources (interactions/api) or a build (dist/interactions/api). */
function findDocument(): string | undefined {
  for (const rel of ['../../docs/openapi.json', '../../../docs/openapi.json']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  return undefined;
}

export function resetApiRoutes(services: Services): Router {
  const { resets, config, log } = services;
  const router = new Router();
  const body = jsonBody(config.MAX_BODY_BYTES);
  const context = (ctx: Context) => ({ ip: clientIp(ctx, config.TRUST_PROXY_HOPS), userAgent: ctx.get('user-agent').slice(0, 200) });

  // Read once at start; parsed here so a broken document fails start-up, not a request.
  const documentPath = findDocument();
  const document: unknown = documentPath ? JSON.parse(readFileSync(documentPath, 'utf8')) : undefined;
  if (!document) log.warn({ event: 'openapi_missing' }, 'docs/openapi.json not found: GET /api/v1/openapi.json answers 404');

  /** The flow id of the path and the bearer secret, unchecked; 404 for an id that cannot exist, 401 for no secret. */
  function credentials(ctx: Context): { handle: string; secret: string } {
    const header = ctx.get('authorization');
    const secret = /^Bearer +([A-Za-z0-9\-._~+/]{1,200}=*) *$/i.exec(header)?.[1];
    if (!secret) throw new ApiProblem('unauthorized', 401);
    const handle = String((ctx as Context & { params?: Record<string, string> }).params?.flow ?? '');
    if (!/^[A-Za-z0-9_-]{10,40}$/.test(handle)) throw new ApiProblem('not_found', 404);
    return { handle, secret };
  }

  /** The flow of the path, with the bearer secret; 404 for an id that cannot exist, 401 for no or a wrong secret. */
  async function authorize(ctx: Context): Promise<{ handle: string; secret: string; view: ResetView }> {
    const { handle, secret } = credentials(ctx);
    const view = await resets.current(handle, secret);
    if (!view) throw new ApiProblem('reset_unknown', 401);
    return { handle, secret, view };
  }

  /**
   * A step's fields. The step itself checks the flow and its secret (in the same store step that
   * takes the flow's lease), so nothing is read before it; only a request whose fields are bad
   * reads the flow first, to answer 401 before 400 as for any request on an unknown flow.
   */
  async function stepFields<T>(ctx: Context, read: () => T): Promise<T> {
    try {
      return read();
    } catch (err) {
      await authorize(ctx);
      throw err;
    }
  }

  function answer(ctx: Context, outcome: ResetOutcome): void {
    // No flow with this id and secret when the step began: as `authorize` answers.
    if (!outcome.ok && outcome.unknownFlow) throw new ApiProblem('reset_unknown', 401);
    if (!outcome.ok) throw outcomeError(outcome);
    ctx.status = 200;
    ctx.body = viewJson(outcome.view);
  }

  router.post('reset-start', `${API_BASE}/resets`, apiResponse, body, async (ctx) => {
    const { identifier } = readFields(ctx, { identifier: { type: 'string', required: true, maxLength: LIMITS.identifier, trim: true } });
    const started = await resets.start(identifier!, context(ctx));
    if (!started.outcome.ok) throw outcomeError(started.outcome);
    ctx.status = 201;
    ctx.set('Location', `${API_BASE}/resets/${started.handle}`);
    const { flow, ...view } = viewJson(started.outcome.view);
    ctx.body = { flow, secret: started.secret, ...view };
  });

  router.get('reset-get', `${API_BASE}/resets/:flow`, apiResponse, async (ctx) => {
    const { view } = await authorize(ctx);
    ctx.body = viewJson(view);
  });

  router.post('reset-choose', `${API_BASE}/resets/:flow/choose`, apiResponse, body, async (ctx) => {
    const { handle, secret } = credentials(ctx);
    const { ref, channel } = await stepFields(ctx, () =>
      readFields(ctx, {
        ref: { type: 'string', required: true, maxLength: LIMITS.ref },
        channel: { type: 'string', enum: ['sms', 'voice'] },
      }),
    );
    answer(ctx, await resets.choose(handle, secret, ref!, channel ? { channel } : {}, context(ctx)));
  });

  router.post('reset-prove', `${API_BASE}/resets/:flow/prove`, apiResponse, body, async (ctx) => {
    const { handle, secret } = credentials(ctx);
    const { code, answers, credential } = await stepFields(ctx, () =>
      readFields(ctx, {
        code: { type: 'string', maxLength: LIMITS.code },
        answers: { type: 'strings', maxItems: LIMITS.answers, maxLength: LIMITS.answer },
        credential: { type: 'string', maxLength: LIMITS.credential },
      }),
    );
    const input: Record<string, string> = {};
    if (code !== undefined) input.code = code;
    if (credential !== undefined) input.credential = credential;
    (answers ?? []).forEach((a, i) => {
      input[`answer_${i + 1}`] = a;
    });
    answer(ctx, await resets.prove(handle, secret, input, context(ctx)));
  });

  router.post('reset-back', `${API_BASE}/resets/:flow/back`, apiResponse, body, async (ctx) => {
    const { handle, secret } = credentials(ctx);
    await stepFields(ctx, () => readFields(ctx, {}));
    answer(ctx, await resets.back(handle, secret));
  });

  router.post('reset-password', `${API_BASE}/resets/:flow/password`, apiResponse, body, async (ctx) => {
    const { handle, secret } = credentials(ctx);
    const { password, confirm } = await stepFields(ctx, () =>
      readFields(ctx, {
        password: { type: 'string', required: true },
        confirm: { type: 'string', required: true },
      }),
    );
    answer(ctx, await resets.setPassword(handle, secret, password!, confirm!, context(ctx)));
  });

  router.get('openapi', `${API_BASE}/openapi.json`, apiResponse, (ctx) => {
    if (!document) throw new ApiProblem('openapi_unavailable', 404);
    ctx.body = document;
  });

  // Anything else under /api/v1/resets answers in the same JSON shape: 405 (with Allow) on a
  // known path, 404 otherwise. Registered last: the routes above answer without calling
  // `next`, so this runs only for a path and method none of them takes.
  router.all(FALLBACK_ROUTE, `${API_BASE}/resets{/*rest}`, apiResponse, (ctx) => {
    const allowed = new Set(
      router.stack.filter((l) => l.name !== FALLBACK_ROUTE && l.methods.length > 0 && l.match(ctx.path)).flatMap((l) => l.methods),
    );
    if (allowed.size === 0) throw new ApiProblem('not_found', 404);
    ctx.set('Allow', [...allowed].join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    throw new ApiProblem('method_not_allowed', 405);
  });

  return router;
}
