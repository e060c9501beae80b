/**
 * A real SMTP server inside the test process (`smtp-server`, messages parsed with `mailparser`),
 * receiving what nodemailer sends. Plain SMTP on 127.0.0.1 (no STARTTLS), AUTH optional.
 *
 *     const smtp = await startSmtpServer();
 *     const sender = new SmtpSender(smtp.url, 'rekey@example.com');
 *     const mail = await smtp.waitFor((m) => m.to.includes('ann@example.com'));
 *     const code = codeIn(mail, 8);
 *
 * Faults: `rejectRecipient(x)` answers RCPT TO with 550; `failNext('reject')` answers the next
 * message's end of DATA with 554; `failNext('timeout')` never answers the next end of DATA, so
 * the client's socket timeout fires.
 */
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { simpleParser } from 'mailparser';
import type { AddressInfo } from 'node:net';

export interface ReceivedMail {
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO) that were accepted. */
  to: string[];
  subject: string;
  text: string;
  html?: string;
  /** The whole message as received (headers and body). */
  raw: string;
}

export interface SmtpServerOptions {
  /** Default 0 (a free port). */
  port?: number;
}

export type SmtpFault = 'reject' | 'timeout';

export interface TestSmtpServer {
  /** `smtp://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Every accepted message, oldest first. */
  messages: ReceivedMail[];
  /** Resolves with the first message (already received or arriving) matching `predicate`. */
  waitFor(predicate?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** RCPT TO for a matching address is answered 550 (until `clear()`). Strings match case-insensitively. */
  rejectRecipient(address: string | RegExp): void;
  /** The next message (once per call; calls queue up) fails at the end of DATA. */
  failNext(kind: SmtpFault): void;
  /** Forgets received messages, rejected recipients and queued faults. */
  clear(): void;
  /** Closes the server and every open connection (including ones left hanging by a 'timeout'). */
  stop(): Promise<void>;
}

interface Waiter {
  predicate: (mail: ReceivedMail) => boolean;
  resolve: (mail: ReceivedMail) => void;
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<Waiter>();
  let rejected: (string | RegExp)[] = [];
  let faults: SmtpFault[] = [];

  const isRejected = (address: string) =>
    rejected.some((r) => (typeof r === 'string' ? r.toLowerCase() === address.toLowerCase() : r.test(address)));

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    banner: 'rekey test SMTP server',
    // stop() should not wait 30 s for connections a 'timeout' fault left hanging
    closeTimeout: 100,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'test' });
    },
    onRcptTo(address, _session, callback) {
      if (isRejected(address.address)) {
        const err = Object.assign(new Error(`<${address.address}>: Recipient address rejected`), { responseCode: 550 });
        return callback(err);
      }
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const fault = faults.shift();
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        if (fault === 'timeout') return; // never answer: the client times out
        if (fault === 'reject') {
          return callback(Object.assign(new Error('Transaction failed (test fault)'), { responseCode: 554 }));
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            const mail: ReceivedMail = {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              ...(typeof parsed.html === 'string' ? { html: parsed.html } : {}),
              raw: raw.toString('utf8'),
            };
            messages.push(mail);
            for (const w of waiters) {
              if (w.predicate(mail)) {
                waiters.delete(w);
                w.resolve(mail);
              }
            }
            callback(null, 'OK: queued');
          },
          (err: Error) => callback(err),
        );
      });
    },
  });
  server.on('error', () => {
    // connection-level errors (a client going away mid-transaction) are not test failures
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    waitFor(predicate = () => true, timeoutMs = 5000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<ReceivedMail>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (mail) => {
            clearTimeout(timer);
            resolve(mail);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching mail within ${timeoutMs} ms (received ${messages.length}: ${
            messages.map((m) => `${m.to.join(',')} "${m.subject}"`).join('; ') || 'none'})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    rejectRecipient(address) {
      rejected.push(address);
    },
    failNext(kind) {
      faults.push(kind);
    },
    clear() {
      messages.length = 0;
      rejected = [];
      faults = [];
    },
    stop() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The first run of exactly `digits` digits in a mail's text (or, lacking text, its HTML).
 * Email codes are 8 digits by default, phone codes 6. Throws when there is none.
 */
export function codeIn(mail: Pick<ReceivedMail, 'text' | 'html'>, digits: number = 8): string {
  const haystack = mail.text || (mail.html ?? '').replace(/<[^>]*>/g, ' ');
  const match = new RegExp(`(?<!\\d)\\d{${digits}}(?!\\d)`).exec(haystack);
  if (!match) throw new Error(`no ${digits}-digit code in mail: ${JSON.stringify(haystack.slice(0, 300))}`);
  return match[0];
}
