/** What the servers under test need around them: a Redis of the benchmark's own and an SMTP sink. */
import { Redis } from 'ioredis';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import type { AddressInfo } from 'node:net';
import { freePort, startChild, waitFor, type Child } from './proc.ts';

export interface BenchRedis {
  url: string;
  port: number;
  child: Child;
  client: Redis;
  /** `INFO <section>` as a map. */
  info(section: string): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

/**
 * A redis-server on a free port, no persistence: its memory and command statistics belong to
 * this run alone (the machine's shared Redis is never touched).
 */
export async function startRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child = startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {}, { inheritEnv: true });
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await waitFor('redis-server', async () => {
    if (client.status !== 'ready') await client.connect().catch(() => undefined);
    return (await client.ping()) === 'PONG';
  }, 10_000, child);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    client,
    async info(section) {
      const text = await client.info(section);
      const out = new Map<string, string>();
      for (const line of text.split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
      }
      return out;
    },
    async stop() {
      client.disconnect();
      await child.stop();
    },
  };
}

export interface SmtpSink {
  url: string;
  /** Messages received so far. */
  count(): number;
  /** Forget what came for `address` (call before the step that sends). */
  forget(address: string): void;
  /** Text of the latest message to `address`, waiting for one to arrive. */
  latest(address: string, timeoutMs?: number): Promise<string>;
  /** Keep the parsed text of messages (only while counting store calls; the load phases just count). */
  keepText(on: boolean): void;
  stop(): Promise<void>;
}

/** Accepts every message; keeps the text only when asked (reading codes of a few flows). */
export async function startSmtpSink(): Promise<SmtpSink> {
  let received = 0;
  let keep = false;
  const texts = new Map<string, string>();
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    closeTimeout: 100,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received += 1;
        if (!keep) return callback();
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        simpleParser(Buffer.concat(chunks)).then(
          (parsed) => {
            for (const a of to) texts.set(a, parsed.text ?? '');
            callback();
          },
          () => callback(),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    count: () => received,
    keepText(on) {
      keep = on;
      if (!on) texts.clear();
    },
    forget(address) {
      texts.delete(address.toLowerCase());
    },
    async latest(address, timeoutMs = 5000) {
      const a = address.toLowerCase();
      const deadline = Date.now() + timeoutMs;
      while (!texts.has(a)) {
        if (Date.now() > deadline) throw new Error(`no message to ${address}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return texts.get(a)!;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
