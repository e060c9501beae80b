/**
 * Hostile input for the fuzzing suites: fast-check arbitraries (huge, empty, control
 * characters, lone surrogates, Unicode normalization variants, bidi overrides, invalid UTF-8
 * bytes, wrong JSON types, `__proto__` / `constructor` / `prototype` keys), ways to put them
 * in a request body (urlencoded with nested keys, JSON, raw bytes), a raw-socket HTTP client
 * for headers no well-behaved client would send, and the checks every answer must pass.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';

/** A value for one field: text, raw bytes (not valid UTF-8 in general), or any JSON-ish value. */
export type Hostile = { kind: 'text'; value: string } | { kind: 'bytes'; value: Uint8Array } | { kind: 'json'; value: unknown };

/** Runs per property; `FUZZ_RUNS` scales them (e.g. 10 for a long run). */
export function runs(base: number): number {
  return Math.max(1, Math.round(base * Number(process.env.FUZZ_RUNS ?? '1')));
}

/** The seed of every property: fixed (reproducible in CI), or `FUZZ_SEED`. Printed with each failure. */
export const SEED = Number(process.env.FUZZ_SEED ?? '20261129');

export async function check<T>(name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, numRuns: number): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty(arb, predicate), { numRuns: runs(numRuns), seed: SEED, endOnFailure: true });
  } catch (e) {
    throw new Error(`${name} (seed ${SEED}; rerun with FUZZ_SEED=${SEED}):\n${(e as Error).message}`, { cause: e });
  }
}

// --- strings -----------------------------------------------------------------------------

const CONTROL = ['\0', '\r', '\n', '\r\n', '\t', '\b', '\f', '\v', '\x1b', '\x7f', '\u0085', '\u2028', '\u2029'];
const SURROGATES = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uD83D', '\uDE00'];
/** The same text in several normalization forms and compatibility characters. */
const FORMS = ['é', 'e\u0301', 'Å', 'A\u030A', '\u212B', 'ﬁ', 'ﬀ', 'ß', 'ẞ', 'İ', 'ı', '\u212A', 'ǅ', '①②③', '１２３４５６', '１２３４５６７８', 'ＡＤＡ', 'ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ', '\u1E9B\u0323', 'ä', 'a\u0308', '\u0391\u0394\u0391'];
const BIDI = ['\u202E', '\u202D', '\u202A', '\u202B', '\u2066', '\u2067', '\u2068', '\u2069', '\u200B', '\u200C', '\u200D', '\u200E', '\u200F', '\uFEFF', '\u00AD', '\u034F', '\u061C'];
const SPECIAL = [
  '',
  ' ',
  '   ',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e308',
  'NaN',
  'Infinity',
  '0x10',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '{}',
  '[]',
  '{"__proto__":{"polluted":"yes"}}',
  '../../../../etc/passwd',
  '..%2f..%2f',
  '%00',
  '%',
  '%%',
  '%ZZ',
  '&',
  '=',
  '&csrf=',
  '<script>alert(1)</script>',
  '"><svg onload=alert(1)>',
  "' OR '1'='1",
  '${7*7}',
  '{{7*7}}',
  '\\',
  '\\u0000',
  'ada',
  'ADA',
  'ada@example.com',
  '+48 601 234 567',
  '+1 900 555 0100',
  '123456',
  '12345678',
  'abcd-efgh-jkmn',
  'm0',
  'm0.voice',
  'f0',
  'voice',
  'sms',
  'email',
  'recovery_codes',
  'security_questions',
  'yes',
  'https://evil.example/',
  '//evil.example',
  'javascript:alert(1)',
];

const pick = (values: string[]) => fc.constantFrom(...values);

/** Strings no form should choke on. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: pick(SPECIAL) },
  { weight: 4, arbitrary: fc.array(fc.oneof(pick(CONTROL), pick(SURROGATES), pick(FORMS), pick(BIDI), fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ maxLength: 12 })), { maxLength: 8 }).map((parts) => parts.join('')) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  // Around and beyond the body limit (16 KiB by default): 413, never a crash.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1_000, max: 40_000 }), pick(['a', 'é', '\u202E', '0', '%', '&', '=', '\0', '𝔘'])).map(([n, c]) => c.repeat(Math.ceil(n / c.length))) },
  { weight: 1, arbitrary: fc.integer({ min: 1025, max: 5000 }).map((n) => 'x'.repeat(n)) },
);

/** Bytes that are not UTF-8: overlong forms, encoded surrogates, lone continuation bytes, beyond U+10FFFF, and random ones. */
export const invalidUtf8: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(
    Uint8Array.of(0xff),
    Uint8Array.of(0xfe, 0xff),
    Uint8Array.of(0xc0, 0xaf),
    Uint8Array.of(0xe0, 0x80, 0xaf),
    Uint8Array.of(0xed, 0xa0, 0x80),
    Uint8Array.of(0xed, 0xbf, 0xbf),
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
    Uint8Array.of(0x80),
    Uint8Array.of(0xc3),
    Uint8Array.of(0x61, 0x00, 0x62),
  ),
  fc.uint8Array({ minLength: 1, maxLength: 64 }),
);

const POLLUTION = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"prototype":{"polluted":"yes"}}',
  '{"a":{"__proto__":{"polluted":"yes"}}}',
  '[{"__proto__":{"polluted":"yes"}}]',
  '{"toString":"x","valueOf":"y","hasOwnProperty":"z"}',
];

/** Anything but a plain string where a string belongs. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
  fc.array(hostileString, { maxLength: 25 }),
  fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), pick(['__proto__', 'constructor', 'prototype'])), hostileString, { maxKeys: 4 }),
  fc.constantFrom(...POLLUTION).map((s) => JSON.parse(s) as unknown),
  fc.integer({ min: 10, max: 200 }).map((depth) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown),
  fc.jsonValue({ maxDepth: 3 }),
);

export const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  { weight: 6, arbitrary: hostileString.map((value) => ({ kind: 'text' as const, value })) },
  { weight: 2, arbitrary: invalidUtf8.map((value) => ({ kind: 'bytes' as const, value })) },
  { weight: 3, arbitrary: wrongType.map((value) => ({ kind: 'json' as const, value })) },
);

/** Extra keys a form never has. */
export const strayKey = fc.constantFrom('__proto__', 'constructor', 'prototype', '__proto__[polluted]', 'constructor[prototype][polluted]', 'a[b][c][d][e][f][g]', '', '%00', 'toString');

export type Encoding = 'form' | 'json' | 'raw';
export const encoding: fc.Arbitrary<Encoding> = fc.constantFrom('form', 'json', 'raw');

// --- bodies ----------------------------------------------------------------------------

function pct(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** urlencoded pairs of one field, nested values as `a[b]` / `a[]` (qs style). */
function pairs(key: string, value: unknown, out: string[]): void {
  if (value instanceof Uint8Array) {
    out.push(`${pct(Buffer.from(key))}=${pct(value)}`);
  } else if (Array.isArray(value)) {
    if (value.length === 0) out.push(`${pct(Buffer.from(`${key}[]`))}=`);
    for (const v of value) pairs(`${key}[]`, v, out);
  } else if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) out.push(`${pct(Buffer.from(`${key}[]`))}=`);
    for (const k of keys) pairs(`${key}[${k}]`, (value as Record<string, unknown>)[k], out);
  } else {
    out.push(`${pct(Buffer.from(key))}=${pct(Buffer.from(String(value ?? '')))}`);
  }
}

/** A request body carrying `fields` (valid ones) plus `key` = `value`, in one of three encodings. */
export function body(fields: Record<string, string>, key: string, value: Hostile, how: Encoding): { type: string; data: Buffer } {
  const plain = Object.entries(fields).filter(([k]) => k !== key);
  if (how === 'json') {
    const head = plain.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    const prefix = `{${head.join(',')}${head.length ? ',' : ''}${JSON.stringify(key)}:`;
    if (value.kind === 'bytes') return { type: 'application/json', data: Buffer.concat([Buffer.from(`${prefix}"`), value.value, Buffer.from('"}')]) };
    const v = value.kind === 'text' ? JSON.stringify(value.value) : (JSON.stringify(value.value) ?? 'null');
    return { type: 'application/json', data: Buffer.from(`${prefix}${v}}`) };
  }
  const out: string[] = [];
  for (const [k, v] of plain) pairs(k, v, out);
  if (how === 'raw') {
    // The value unencoded: raw bytes (or text) straight in the body.
    const raw = value.kind === 'bytes' ? value.value : Buffer.from(value.kind === 'text' ? value.value : JSON.stringify(value.value) ?? '');
    return { type: 'application/x-www-form-urlencoded', data: Buffer.concat([Buffer.from(`${out.join('&')}${out.length ? '&' : ''}${key}=`), raw]) };
  }
  pairs(key, value.kind === 'text' ? value.value : value.value, out);
  return { type: 'application/x-www-form-urlencoded', data: Buffer.from(out.join('&')) };
}

export function describeValue(v: Hostile): string {
  const shown = v.kind === 'bytes' ? `bytes ${Buffer.from(v.value).toString('hex').slice(0, 80)}` : JSON.stringify(v.value)?.slice(0, 120);
  return `${v.kind} ${shown}`;
}

// --- answers -----------------------------------------------------------------------------

/** What must never reach a client: stack frames, file paths, error class names. */
const LEAKS = /\n\s+at |node:internal|node_modules|\/work\/|\/src\/|\/interactions\/|\.ts:\d+|\.js:\d+|TypeError|ReferenceError|SyntaxError|RangeError|ERR_[A-Z_]{4,}/;

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * A 4xx/3xx/2xx, no stack trace or path, and our own shape: an HTML page of our layout, or the
 * JSON error shape (`error`, `message`) for JSON; a redirect stays on `origin`.
 */
export function assertSafe(res: Answer, origin: string, label: string): void {
  const where = `${label}: ${res.status} ${res.text.slice(0, 300)}`;
  assert.ok(res.status < 500, `never a 5xx — ${where}`);
  assert.doesNotMatch(res.text, LEAKS, `no stack trace or file path — ${where}`);
  const type = String(res.headers['content-type'] ?? '');
  if (res.status >= 300 && res.status < 400) {
    const location = String(res.headers.location ?? '');
    assert.ok(location, `a redirect has a Location — ${where}`);
    assert.equal(new URL(location, origin).origin, new URL(origin).origin, `a redirect stays here — ${label}: ${location}`);
    return;
  }
  if (type.startsWith('text/html') && /<title>Submitting Callback<\/title>/.test(res.text)) {
    // oidc-provider's own auto-submitting form (form_post, sign-out without a session): its one
    // inline script is allowed by its hash, and the form posts back here.
    const script = /<script>([\s\S]*?)<\/script>/.exec(res.text)?.[1] ?? '';
    const hash = `'sha256-${createHash('sha256').update(script).digest('base64')}'`;
    assert.ok(String(res.headers['content-security-policy'] ?? '').includes(hash), `the CSP allows the form's script — ${where}`);
    const action = /<form method="post" action="([^"]+)"/.exec(res.text)?.[1] ?? '';
    assert.equal(new URL(action.replace(/&amp;/g, '&'), origin).origin, new URL(origin).origin, `the form posts here — ${where}`);
  } else if (type.startsWith('text/html')) {
    assert.match(res.text, /<!doctype html>[\s\S]*\/assets\/rekey\.css[\s\S]*<main/i, `our page — ${where}`);
  } else if (type.startsWith('application/json')) {
    if (res.status >= 400) {
      const json = JSON.parse(res.text) as Record<string, unknown>;
      const shape = typeof json.error === 'string' && (typeof json.message === 'string' || typeof json.error_description === 'string');
      assert.ok(shape, `the JSON error shape — ${where}`);
    }
  } else if (res.status >= 400) {
    assert.fail(`an error answer is our page or JSON, not ${type || 'untyped'} — ${where}`);
  }
}

/** Object.prototype as it is now, to compare after a run (prototype pollution). */
export function prototypeKeys(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}

export function assertNoPollution(before: string[]): void {
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype.polluted');
  assert.deepEqual(prototypeKeys(), before, 'Object.prototype unchanged');
}

// --- a raw HTTP client --------------------------------------------------------------------

/**
 * Sends `head` (request line and header lines, joined with CRLF by the caller or here) and
 * `data` over a plain socket and reads until the server closes. For headers supertest (and
 * Node's own client) refuse to send.
 */
export function rawRequest(origin: string, head: (string | Buffer)[], data: Buffer = Buffer.alloc(0), timeoutMs = 5000): Promise<Answer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => {
      const lines = head.map((l) => (typeof l === 'string' ? Buffer.from(l, 'latin1') : l));
      const crlf = Buffer.from('\r\n');
      socket.end(Buffer.concat([...lines.flatMap((l) => [l, crlf]), crlf, data]));
    });
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)));
    });
  });
}

function parseResponse(raw: Buffer): Answer {
  const split = raw.indexOf('\r\n\r\n');
  const headText = raw.subarray(0, split < 0 ? raw.length : split).toString('latin1');
  let rest = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4);
  const [statusLine, ...lines] = headText.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? '0');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      if (eol < 0) break;
      const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (!size) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
    rest = Buffer.concat(parts);
  }
  return { status, headers, text: rest.toString('utf8') };
}
