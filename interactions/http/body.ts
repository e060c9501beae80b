/** Form and JSON bodies for our routes only (never in front of the provider), size-limited. */
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { BadRequest, PayloadTooLarge, UnsupportedMediaType } from '../../src/errors.ts';

export function parseBody(maxBytes: number) {
  const parser = bodyParser({
    enableTypes: ['form', 'json'],
    formLimit: `${maxBytes}b`,
    jsonLimit: `${maxBytes}b`,
    onError: (err: Error & { status?: number; type?: string }) => {
      if (err.status === 413) throw new PayloadTooLarge();
      if (err.status === 415) throw new UnsupportedMediaType();
      throw new BadRequest('The request body could not be read.');
    },
  });
  return async function body(ctx: Context, next: Next): Promise<void> {
    const length = Number(ctx.get('content-length') || 0);
    if (length > maxBytes) throw new PayloadTooLarge();
    if (ctx.method === 'POST' && !ctx.is('application/x-www-form-urlencoded', 'application/json')) {
      throw new UnsupportedMediaType();
    }
    await parser(ctx, next);
  };
}

/** A form field as one length-bounded string (nested `a[b]` or repeated fields count as absent), or undefined when absent or not a string. */
export function field(ctx: Context, name: string, maxLength = 1024): string | undefined {
  const body = (ctx.request as unknown as { body?: unknown }).body;
  if (!body || typeof body !== 'object') return undefined;
  const v = Object.prototype.hasOwnProperty.call(body, name) ? (body as Record<string, unknown>)[name] : undefined;
  if (typeof v !== 'string' || v.length > maxLength) return undefined;
  return v;
}

/** A WebAuthn response (security key) as JSON: longer than any typed field. */
export const CREDENTIAL_MAX = 8192;

/** Every flat string field of the body (bounded), for method forms with variable fields. */
export function formFields(ctx: Context, maxLength = 1024): Record<string, string> {
  const body = (ctx.request as unknown as { body?: unknown }).body;
  const out: Record<string, string> = {};
  if (!body || typeof body !== 'object') return out;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (typeof v === 'string' && v.length <= (k === 'credential' ? CREDENTIAL_MAX : maxLength) && /^[a-z_0-9]{1,40}$/.test(k)) out[k] = v;
  }
  return out;
}
