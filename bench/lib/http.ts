/**
 * A small HTTP/1.1 client for the load generator: keep-alive sockets, no redirects followed,
 * a cookie jar per virtual browser (name → value; one host, one flow at a time), form and JSON
 * bodies. node:http directly, so the generator spends little CPU next to the server.
 */
import { Agent, request } from 'node:http';

export const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  form?: Record<string, string>;
  json?: unknown;
  jar?: CookieJar;
}

export class CookieJar {
  private readonly cookies = new Map<string, string>();

  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    let out = '';
    for (const [k, v] of this.cookies) out += `${out ? '; ' : ''}${k}=${v}`;
    return out;
  }

  take(setCookie: string | string[] | undefined): void {
    if (!setCookie) return;
    for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const semi = line.indexOf(';');
      const pair = semi < 0 ? line : line.slice(0, semi);
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  clear(): void {
    this.cookies.clear();
  }
}

/** Called around every request (development aids attribute server CPU to requests with it). */
export type RequestObserver = (phase: 'before' | 'after', method: string, url: string) => void;
let observer: RequestObserver | undefined;
export function observeRequests(o: RequestObserver | undefined): void {
  observer = o;
}

export async function send(url: string, options: RequestOptions = {}): Promise<Reply> {
  if (!observer) return sendRaw(url, options);
  const method = options.method ?? (options.form || options.json !== undefined ? 'POST' : 'GET');
  observer('before', method, url);
  const reply = await sendRaw(url, options);
  observer('after', method, url);
  return reply;
}

function sendRaw(url: string, options: RequestOptions): Promise<Reply> {
  const u = new URL(url);
  let body: string | undefined;
  const headers: Record<string, string> = { ...options.headers };
  if (options.form) {
    body = new URLSearchParams(options.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  const cookie = options.jar?.header();
  if (cookie) headers.cookie = cookie;
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method: options.method ?? (body !== undefined ? 'POST' : 'GET'), headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          options.jar?.take(res.headers['set-cookie']);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function location(reply: Reply, base: string): string {
  const loc = reply.headers.location;
  if (typeof loc !== 'string') throw new Error(`expected a redirect, got ${reply.status}: ${reply.text.slice(0, 300)}`);
  return new URL(loc, base).toString();
}

export function expectStatus(reply: Reply, ...statuses: number[]): Reply {
  if (!statuses.includes(reply.status)) throw new Error(`expected HTTP ${statuses.join('/')}, got ${reply.status}: ${reply.text.slice(0, 300)}`);
  return reply;
}

export function hidden(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no field ${name} in page: ${html.slice(0, 500)}`);
  return m[1]!;
}
