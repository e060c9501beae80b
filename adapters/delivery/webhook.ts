/**
 * SMS and voice delivery through a signed HTTP webhook: rekey POSTs each message to your own
 * gateway (any SMS/voice provider behind it), which sends it on.
 *
 * Request:
 *
 *     POST {url}
 *     Content-Type: application/json
 *     X-Rekey-Timestamp: 1767225600
 *     X-Rekey-Signature: sha256=<hex HMAC-SHA256(secret, "1767225600." + rawBody)>
 *
 *     {"channel":"sms","to":"+48601234567","text":"Your code is 123456","id":"<random hex>","timestamp":1767225600}
 *
 * `channel` is `"sms"` or `"voice"` (for voice, the receiver places a call that says `text`);
 * `to` is E.164; `id` is random per message (use it to drop duplicates); `timestamp` is Unix
 * epoch seconds and equals the header.
 *
 * Any 2xx answer is success. Anything else — a non-2xx answer, no answer within `timeoutMs`, a
 * network error — rejects with `DeliveryFailed`, whose message names the status or cause but
 * never the secret nor the text (it carries a one-time code).
 *
 * Verifying a request (receiver side):
 *
 * 1. Read the body as raw bytes, *before* any JSON parsing (re-serialising changes the bytes).
 * 2. Take `t = X-Rekey-Timestamp`; reject (401) unless it is an integer within 5 minutes of
 *    your clock (older is a replay, much newer a forgery).
 * 3. Compute `expected = "sha256=" + hex(HMAC-SHA256(secret, t + "." + rawBody))` and compare
 *    it with `X-Rekey-Signature` in constant time (Node: `crypto.timingSafeEqual` on equal-
 *    length buffers; Python: `hmac.compare_digest`); reject (401) on mismatch.
 * 4. Only then parse the JSON; check `timestamp === t`; optionally remember `id` for 5 minutes
 *    and ignore a repeat.
 *
 *     import { createHmac, timingSafeEqual } from 'node:crypto';
 *     function verify(secret: string, raw: Buffer, t: string, sig: string, nowSec = Date.now() / 1000) {
 *       if (!/^\d+$/.test(t) || Math.abs(nowSec - Number(t)) > 300) return false;
 *       const expected = Buffer.from('sha256=' + createHmac('sha256', secret).update(`${t}.`).update(raw).digest('hex'));
 *       const given = Buffer.from(sig);
 *       return given.length === expected.length && timingSafeEqual(given, expected);
 *     }
 */
import { createHmac, randomBytes } from 'node:crypto';
import { DeliveryFailed } from '../../src/errors.ts';
import type { MessageSender, OutgoingMessage } from '../../src/domain/messages.ts';
import { describeFetchError, redact } from './http-errors.ts';

export interface WebhookOptions {
  url: string;
  /** Shared HMAC secret. */
  secret: string;
  /** Per request, default 10 000 ms. */
  timeoutMs?: number;
  /** Epoch milliseconds, default `Date.now`; tests use it to send stale timestamps. */
  clock?: () => number;
}

export interface WebhookPayload {
  channel: 'sms' | 'voice';
  to: string;
  text: string;
  id: string;
  timestamp: number;
}

/** `sha256=<hex>` over `${timestamp}.${rawBody}`. */
export function webhookSignature(secret: string, timestamp: number | string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

export class WebhookSender implements MessageSender {
  private readonly url: string;
  private readonly secret: string;
  private readonly timeoutMs: number;
  private readonly clock: () => number;

  constructor(options: WebhookOptions) {
    this.url = options.url;
    this.secret = options.secret;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.clock = options.clock ?? Date.now;
  }

  async send(message: OutgoingMessage): Promise<void> {
    if (message.channel !== 'sms' && message.channel !== 'voice') {
      throw new DeliveryFailed(`the SMS webhook cannot deliver ${message.channel} messages`);
    }
    const timestamp = Math.floor(this.clock() / 1000);
    const payload: WebhookPayload = {
      channel: message.channel,
      to: message.to,
      text: message.text,
      id: randomBytes(16).toString('hex'),
      timestamp,
    };
    const raw = JSON.stringify(payload);
    const what = `SMS webhook (${message.channel})`;
    const secrets = [this.secret, message.text, ...(message.text.match(/\d{4,}/g) ?? [])];
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Rekey-Timestamp': String(timestamp),
          'X-Rekey-Signature': webhookSignature(this.secret, timestamp, raw),
        },
        body: raw,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await response.arrayBuffer(); // drain, so the connection can be reused
    } catch (e) {
      throw new DeliveryFailed(`${what} failed: ${redact(describeFetchError(e, this.timeoutMs), secrets)}`);
    }
    if (response.status >= 200 && response.status < 300) return;
    throw new DeliveryFailed(
      `${what} failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`,
    );
  }
}


