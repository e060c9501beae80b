/**
 * A local HTTP server standing in for the SMS/voice provider cloud, at the protocol level.
 *
 * - Twilio: `POST /2010-04-01/Accounts/<sid>/Messages.json` (To, From, Body) and
 *   `POST /2010-04-01/Accounts/<sid>/Calls.json` (To, From, Twiml), HTTP Basic `sid:token`,
 *   `application/x-www-form-urlencoded`. A request of the right shape gets 201 and a JSON
 *   resource (`sid`, `status: 'queued'`, …) like Twilio's; otherwise 401 / 400 / 404 / 405 in
 *   Twilio's error shape `{ code, message, more_info, status }`, and the reason is recorded in
 *   `rejected`.
 * - Webhook: `POST /webhook` with the JSON body and `X-Rekey-Timestamp` / `X-Rekey-Signature`
 *   headers of `adapters/delivery/webhook.ts`; the HMAC is checked over the raw body in constant
 *   time and the timestamp must be within 5 minutes (else 401); a repeated `id` gets 409.
 *
 *     const gw = await startSmsGateway({ accountSid, authToken, webhookSecret });
 *     const sms = await gw.waitFor((m) => m.to === '+48601234567');
 *     const code = digitsIn(sms.text, 6);
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';

export interface GatewayMessage {
  kind: 'twilio-sms' | 'twilio-voice' | 'webhook';
  channel: 'sms' | 'voice';
  to: string;
  from?: string;
  /** SMS Body; for calls the text inside the first `<Say>` (XML-unescaped); for the webhook its `text`. */
  text: string;
  /** The raw request body. */
  raw: string;
  /** The parsed request: form fields for Twilio, the JSON object's fields for the webhook. */
  fields: Record<string, unknown>;
  /** The sid answered for Twilio requests, the payload's `id` for the webhook. */
  id: string;
}

/** A request the gateway refused, and why (a shape mismatch, bad credentials, a bad signature, an injected fault). */
export interface GatewayRejection {
  method: string;
  path: string;
  status: number | 'hang';
  reason: string;
}

export interface SmsGatewayOptions {
  accountSid: string;
  authToken: string;
  webhookSecret: string;
  /** Epoch milliseconds, default `Date.now` (the webhook timestamp window is judged against it). */
  clock?: () => number;
}

export interface SmsGateway {
  /** `http://127.0.0.1:<port>`: pass as TwilioSender's `apiBase`. */
  twilioBase: string;
  /** `http://127.0.0.1:<port>/webhook` */
  webhookUrl: string;
  /** Every accepted message, oldest first. */
  received: GatewayMessage[];
  /** Every refused request, oldest first. */
  rejected: GatewayRejection[];
  waitFor(predicate?: (m: GatewayMessage) => boolean, timeoutMs?: number): Promise<GatewayMessage>;
  /** The next `times` requests (any path) are answered with `status` (Twilio error shape), or never answered. */
  failWith(status: number | 'hang', times?: number): void;
  /** Forgets received and rejected requests and queued faults. */
  clear(): void;
  /** Closes the server and every connection, hanging ones included. */
  stop(): Promise<void>;
}

const TWILIO_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages|Calls)\.json$/;
const E164 = /^\+[1-9]\d{1,14}$/;
const MAX_BODY = 64 * 1024;
const WEBHOOK_WINDOW_S = 300;

interface Waiter {
  predicate: (m: GatewayMessage) => boolean;
  resolve: (m: GatewayMessage) => void;
}

class Refusal extends Error {
  constructor(readonly status: number, readonly code: number, message: string, readonly reason = message) {
    super(message);
  }
}

export async function startSmsGateway(options: SmsGatewayOptions): Promise<SmsGateway> {
  const clock = options.clock ?? Date.now;
  const received: GatewayMessage[] = [];
  const rejected: GatewayRejection[] = [];
  const waiters = new Set<Waiter>();
  const seenIds = new Map<string, number>();
  let faults: (number | 'hang')[] = [];
  const sockets = new Set<Socket>();

  function accept(m: GatewayMessage): void {
    received.push(m);
    for (const w of waiters) {
      if (w.predicate(m)) {
        waiters.delete(w);
        w.resolve(m);
      }
    }
  }

  function answer(res: ServerResponse, status: number, body: unknown): void {
    const json = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
    res.end(json);
  }

  function twilioError(res: ServerResponse, status: number, code: number, message: string): void {
    answer(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? '';
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    const refuse = (status: number | 'hang', reason: string) => rejected.push({ method, path, status, reason });

    const fault = faults.shift();
    if (fault !== undefined) {
      refuse(fault, 'injected fault');
      req.resume();
      if (fault === 'hang') return; // never answer; stop() destroys the socket
      return twilioError(res, fault, 20000 + fault, `HTTP ${fault} (test fault)`);
    }

    let raw: string;
    try {
      raw = await readBody(req);
    } catch (e) {
      refuse(413, (e as Error).message);
      return twilioError(res, 413, 20413, 'Request entity too large');
    }

    try {
      if (path === '/webhook') {
        if (method !== 'POST') throw new Refusal(405, 20004, 'Method not allowed');
        accept(checkWebhook(req, raw));
        return answer(res, 200, { ok: true });
      }
      const m = TWILIO_PATH.exec(path);
      if (!m) throw new Refusal(404, 20404, `The requested resource ${path} was not found`);
      if (method !== 'POST') throw new Refusal(405, 20004, 'Method not allowed');
      checkBasicAuth(req);
      if (decodeURIComponent(m[1]!) !== options.accountSid) {
        throw new Refusal(404, 20404, `The requested resource ${path} was not found`, 'account sid in the path is not the authenticated one');
      }
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw new Refusal(400, 20001, 'Content-Type must be application/x-www-form-urlencoded', `content type ${JSON.stringify(type)}`);
      }
      const form = new URLSearchParams(raw);
      const fields = Object.fromEntries(form);
      for (const [name, count] of countKeys(form)) {
        if (count > 1) throw new Refusal(400, 20001, `Parameter ${name} given ${count} times`);
      }
      const resource = m[2] === 'Messages' ? 'Messages' : 'Calls';
      const to = form.get('To');
      const from = form.get('From');
      const sidPrefix = resource === 'Messages' ? 'SM' : 'CA';
      let message: GatewayMessage;
      if (resource === 'Messages') {
        if (!to) throw new Refusal(400, 21604, "A 'To' phone number is required.");
        if (!from) throw new Refusal(400, 21603, "A 'From' phone number is required.");
        if (!E164.test(to)) throw new Refusal(400, 21211, `Invalid 'To' Phone Number: ${to}`);
        const body = form.get('Body');
        if (!body) throw new Refusal(400, 21602, 'Message body is required.');
        if (body.length > 1600) throw new Refusal(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
        message = { kind: 'twilio-sms', channel: 'sms', to, from, text: body, raw, fields, id: sidPrefix + randomBytes(16).toString('hex') };
      } else {
        if (!to) throw new Refusal(400, 21201, "No 'To' number is specified");
        if (!from) throw new Refusal(400, 21213, "No 'From' number is specified");
        if (!E164.test(to)) throw new Refusal(400, 21211, `Invalid 'To' Phone Number: ${to}`);
        const twiml = form.get('Twiml');
        if (!twiml) throw new Refusal(400, 21205, 'Url, Twiml or ApplicationSid parameter is required.');
        const say = sayTextOf(twiml); // throws a Refusal when the TwiML is not well-formed
        message = { kind: 'twilio-voice', channel: 'voice', to, from, text: say, raw, fields, id: sidPrefix + randomBytes(16).toString('hex') };
      }
      accept(message);
      const now = new Date(clock()).toUTCString().replace('GMT', '+0000');
      return answer(res, 201, {
        sid: message.id,
        account_sid: options.accountSid,
        to: message.to,
        from: message.from,
        ...(resource === 'Messages' ? { body: message.text, num_segments: '1', direction: 'outbound-api' } : { direction: 'outbound-api' }),
        status: 'queued',
        date_created: now,
        date_updated: now,
        api_version: '2010-04-01',
        uri: `/2010-04-01/Accounts/${options.accountSid}/${resource}/${message.id}.json`,
      });
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      refuse(e.status, e.reason);
      if (path === '/webhook') return answer(res, e.status, { error: e.message });
      return twilioError(res, e.status, e.code, e.message);
    }
  }

  function checkBasicAuth(req: IncomingMessage): void {
    const header = req.headers.authorization ?? '';
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    const expected = Buffer.from(`${options.accountSid}:${options.authToken}`);
    const given = m ? Buffer.from(m[1]!, 'base64') : Buffer.alloc(0);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new Refusal(401, 20003, 'Authenticate', m ? 'wrong Basic credentials' : 'no Basic authorization');
    }
  }

  function checkWebhook(req: IncomingMessage, raw: string): GatewayMessage {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new Refusal(415, 0, 'Content-Type must be application/json', `content type ${JSON.stringify(type)}`);
    const t = String(req.headers['x-rekey-timestamp'] ?? '');
    const sig = String(req.headers['x-rekey-signature'] ?? '');
    if (!/^\d+$/.test(t)) throw new Refusal(401, 0, 'invalid_timestamp', 'missing or malformed X-Rekey-Timestamp');
    if (Math.abs(clock() / 1000 - Number(t)) > WEBHOOK_WINDOW_S) {
      throw new Refusal(401, 0, 'invalid_timestamp', `timestamp ${t} outside the ${WEBHOOK_WINDOW_S} s window`);
    }
    const expected = Buffer.from(`sha256=${createHmac('sha256', options.webhookSecret).update(`${t}.`).update(raw).digest('hex')}`);
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new Refusal(401, 0, 'invalid_signature', sig ? 'signature mismatch' : 'missing X-Rekey-Signature');
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw new Refusal(400, 0, 'invalid_json');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Refusal(400, 0, 'invalid_json');
    const { channel, to, text, id, timestamp } = body;
    if (channel !== 'sms' && channel !== 'voice') throw new Refusal(400, 0, 'invalid_channel');
    if (typeof to !== 'string' || !E164.test(to)) throw new Refusal(400, 0, 'invalid_to');
    if (typeof text !== 'string' || !text) throw new Refusal(400, 0, 'invalid_text');
    if (typeof id !== 'string' || !id) throw new Refusal(400, 0, 'invalid_id');
    if (timestamp !== Number(t)) throw new Refusal(400, 0, 'timestamp_mismatch', 'body timestamp differs from the header');
    const nowS = clock() / 1000;
    for (const [seen, at] of seenIds) if (nowS - at > WEBHOOK_WINDOW_S) seenIds.delete(seen);
    if (seenIds.has(id)) throw new Refusal(409, 0, 'duplicate_id', `id ${id} seen before (replay)`);
    seenIds.set(id, nowS);
    return { kind: 'webhook', channel, to, text, raw, fields: body, id };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      rejected.push({ method: req.method ?? '', path: req.url ?? '', status: 500, reason: `gateway bug: ${(e as Error).message}` });
      if (!res.headersSent) twilioError(res, 500, 20500, 'An internal server error has occurred');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  return {
    twilioBase: base,
    webhookUrl: `${base}/webhook`,
    received,
    rejected,
    waitFor(predicate = () => true, timeoutMs = 5000) {
      const found = received.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<GatewayMessage>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching gateway message within ${timeoutMs} ms (received ${received.length}: ${
            received.map((m) => `${m.kind} ${m.to}`).join('; ') || 'none'}; rejected ${rejected.length}: ${
            rejected.map((r) => `${r.status} ${r.path} ${r.reason}`).join('; ') || 'none'})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    failWith(status, times = 1) {
      for (let i = 0; i < times; i++) faults.push(status);
    },
    clear() {
      received.length = 0;
      rejected.length = 0;
      faults = [];
      seenIds.clear();
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

/**
 * The first run of exactly `n` digits in `text`. Digits separated only by spaces or commas —
 * how a voice call spells a code out, "1, 2, 3, 4, 5, 6" — count as one run. Throws when none.
 */
export function digitsIn(text: string, n: number): string {
  const exact = new RegExp(`(?<!\\d)\\d{${n}}(?!\\d)`);
  const direct = exact.exec(text);
  if (direct) return direct[0];
  const joined = exact.exec(text.replace(/(?<=\d)[\s,]+(?=\d)/g, ''));
  if (joined) return joined[0];
  throw new Error(`no ${n}-digit code in ${JSON.stringify(text.slice(0, 300))}`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error(`body over ${MAX_BODY} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function countKeys(form: URLSearchParams): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of form.keys()) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

/**
 * Checks that `twiml` is a well-formed `<Response>` of `<Say>` / `<Pause>` verbs with correctly
 * escaped text, and returns the (unescaped) text of the first `<Say>`.
 */
function sayTextOf(twiml: string): string {
  const bad = (why: string): never => {
    throw new Refusal(400, 12100, 'Document parse failure', `TwiML: ${why}`);
  };
  const token = /<(\/?)([A-Za-z]+)((?:\s+[A-Za-z]+="[^"<&]*")*)\s*(\/?)>|([^<]+)/gy;
  const stack: string[] = [];
  const says: string[] = [];
  let sawResponse = false;
  let pos = /^\s*<\?xml[^?]*\?>\s*/.exec(twiml)?.[0].length ?? 0;
  let m: RegExpExecArray | null;
  while (pos < twiml.length) {
    token.lastIndex = pos;
    m = token.exec(twiml);
    if (!m) bad(`unexpected markup at ${pos}`);
    pos = token.lastIndex;
    const [, closing, name, , selfClosing, text] = m!;
    if (text !== undefined) {
      if (stack.at(-1) !== 'Say') {
        if (text.trim()) bad('text outside <Say>');
        continue;
      }
      if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text)) bad('unescaped &');
      says[says.length - 1] += text;
      continue;
    }
    if (closing) {
      if (stack.pop() !== name) bad(`unbalanced </${name}>`);
      continue;
    }
    const parent = stack.at(-1);
    if (name === 'Response') {
      if (parent !== undefined || sawResponse) bad('<Response> must be the single root');
      sawResponse = true;
    } else if (name === 'Say' || name === 'Pause') {
      if (parent !== 'Response') bad(`<${name}> outside <Response>`);
      if (name === 'Say') says.push('');
    } else {
      bad(`unsupported verb <${name}>`);
    }
    if (!selfClosing) stack.push(name!);
  }
  if (!sawResponse || stack.length) bad('unclosed elements');
  if (says.length === 0) bad('no <Say>');
  return says[0]!.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === 'apos' ? "'"
      : String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)));
}

/** The test Twilio account the suites share, and the rekey settings that point SMS and voice at the gateway. */
export const TEST_TWILIO = { accountSid: `AC${'0'.repeat(32)}`, authToken: 'twilio-test-token-0123456789', from: '+15005550006' } as const;

export function twilioEnv(gateway: Pick<SmsGateway, 'twilioBase'>, countries = 'PL'): Record<string, string> {
  return {
    PHONE_COUNTRIES: countries,
    SMS_GATEWAY: 'twilio',
    TWILIO_ACCOUNT_SID: TEST_TWILIO.accountSid,
    TWILIO_AUTH_TOKEN: TEST_TWILIO.authToken,
    TWILIO_FROM: TEST_TWILIO.from,
    TWILIO_API_BASE: gateway.twilioBase,
  };
}
