/**
 * SMS and voice-call delivery through Twilio's REST API (2010-04-01), with global `fetch`.
 *
 * - SMS:   `POST {apiBase}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form fields
 *          `To`, `From`, `Body`.
 * - Voice: `POST {apiBase}/2010-04-01/Accounts/{AccountSid}/Calls.json`, form fields
 *          `To`, `From`, `Twiml` = `<Response><Say>…</Say><Pause length="1"/><Say>…</Say></Response>`:
 *          the text is said twice, and every run of 4 or more digits (a code) is spelled out
 *          digit by digit ("1, 2, 3, …") so it is said slowly.
 *
 * Both use HTTP Basic auth `AccountSid:AuthToken` and `application/x-www-form-urlencoded`.
 * Any 2xx is success (Twilio answers 201 with a JSON resource carrying `sid`). Anything else —
 * a non-2xx answer, a timeout, a network error — rejects with `DeliveryFailed`, whose message
 * names the HTTP status / Twilio error code / network cause but never the auth token nor the
 * message text (it carries a one-time code).
 */
import { DeliveryFailed } from '../../src/errors.ts';
import type { MessageSender, OutgoingMessage } from '../../src/domain/messages.ts';
import { describeFetchError, redact } from './http-errors.ts';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  /** A Twilio phone number (E.164), or for SMS an alphanumeric sender id / messaging service number. */
  from: string;
  /** Default `https://api.twilio.com`; tests point it at a local gateway. */
  apiBase?: string;
  /** Per request, default 10 000 ms. */
  timeoutMs?: number;
}

export class TwilioSender implements MessageSender {
  private readonly accountSid: string;
  private readonly authToken: string;
  private readonly from: string;
  private readonly apiBase: string;
  private readonly timeoutMs: number;

  constructor(options: TwilioOptions) {
    this.accountSid = options.accountSid;
    this.authToken = options.authToken;
    this.from = options.from;
    this.apiBase = (options.apiBase ?? 'https://api.twilio.com').replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async send(message: OutgoingMessage): Promise<void> {
    let resource: 'Messages' | 'Calls';
    const form = new URLSearchParams({ To: message.to, From: this.from });
    if (message.channel === 'sms') {
      resource = 'Messages';
      form.set('Body', message.text);
    } else if (message.channel === 'voice') {
      resource = 'Calls';
      form.set('Twiml', voiceTwiml(message.text));
    } else {
      throw new DeliveryFailed(`Twilio cannot deliver ${message.channel} messages`);
    }

    const what = `Twilio ${message.channel === 'sms' ? 'SMS' : 'voice call'}`;
    const url = `${this.apiBase}/2010-04-01/Accounts/${encodeURIComponent(this.accountSid)}/${resource}.json`;
    const secrets = [this.authToken, message.text, ...codesIn(message.text)];
    let response: Response;
    let body: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = await response.text();
    } catch (e) {
      throw new DeliveryFailed(`${what} failed: ${redact(describeFetchError(e, this.timeoutMs), secrets)}`);
    }
    if (response.status >= 200 && response.status < 300) return;

    // Twilio's error shape: { code, message, more_info, status }.
    let detail = '';
    try {
      const err = JSON.parse(body) as { code?: unknown; message?: unknown };
      const parts: string[] = [];
      if (typeof err.code === 'number' || typeof err.code === 'string') parts.push(`Twilio error ${err.code}`);
      if (typeof err.message === 'string') parts.push(err.message.slice(0, 200));
      if (parts.length) detail = ` (${parts.join(': ')})`;
    } catch {
      // not JSON: the status alone says enough
    }
    throw new DeliveryFailed(
      `${what} failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${redact(detail, secrets)}`,
    );
  }
}

/** The TwiML of a call that says `text` twice, codes digit by digit, with a pause between. */
export function voiceTwiml(text: string): string {
  const said = escapeXml(spellDigits(text));
  return `<Response><Say>${said}</Say><Pause length="1"/><Say>${said}</Say></Response>`;
}

/** "Your code is 123456" → "Your code is 1, 2, 3, 4, 5, 6": runs of ≥ 4 digits are spelled out. */
function spellDigits(text: string): string {
  return text.replace(/\d{4,}/g, (run) => run.split('').join(', '));
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function codesIn(text: string): string[] {
  return text.match(/\d{4,}/g) ?? [];
}


