/**
 * rekey as separate processes (`src/server.ts`, as `npm start` runs it), for tests that kill
 * processes or their store: start one on a free port, wait until /readyz answers, read what
 * it logged, SIGKILL it. Plus a browser that hops between processes sharing one store
 * (cookies kept across them) and a JSON client for the reset API.
 *
 * Every child is killed at exit whatever happened; suites still kill theirs in `after`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey } from '../../src/keys.ts';
import { ROOT } from './cli.ts';
import { freePort } from './redis.ts';
import { FAST_ARGON2, testClients } from './test-app.ts';

const children = new Set<ChildProcess>();
let hooked = false;

export interface RekeyProcess {
  port: number;
  url: string;
  pid: number;
  /** Everything it wrote to stdout and stderr so far (pino JSON lines, start-up errors). */
  output(): string;
  /** Resolves when the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Keys and settings several processes must share (signing keys, cookie keys, HMAC and TOTP
 * keys, the clients file): written once per suite into `dir`.
 */
export function sharedRekeyEnv(dir: string, issuer: string, extra: Record<string, string> = {}): Record<string, string> {
  const clientsFile = join(dir, 'clients.json');
  writeFileSync(clientsFile, JSON.stringify(testClients(issuer)));
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DEMO: 'false',
    SSPR_SCOPE: 'none',
    TWO_FACTOR: 'off',
    ISSUER: issuer,
    CLIENTS_FILE: clientsFile,
    JWKS: JSON.stringify({ keys: [generateSigningKey()] }),
    COOKIE_KEYS: 'k'.repeat(40),
    HMAC_KEYS: 'h'.repeat(40),
    TOTP_KEYS: 't'.repeat(40),
    ...FAST_ARGON2,
    ...extra,
  };
}

/** Starts `src/server.ts` with `env` (plus PORT) and, unless told not to, waits for /readyz 200. */
export async function startRekeyProcess(env: Record<string, string>, options: { port?: number; waitReady?: boolean; readyTimeoutMs?: number } = {}): Promise<RekeyProcess> {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const proc: RekeyProcess = {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (done) return;
      child.kill(signal);
      await exited;
    },
  };
  if (options.waitReady === false) return proc;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (done) throw new Error(`rekey on port ${port} exited at start-up:\n${output.slice(-2000)}`);
    try {
      const res = await fetch(`${proc.url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return proc;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await proc.kill();
      throw new Error(`rekey on port ${port} did not become ready:\n${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The JSON lines a process logged (pino), parsed; other lines are skipped. */
export function logLines(proc: Pick<RekeyProcess, 'output'>): Record<string, unknown>[] {
  return proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export interface HttpPage {
  status: number;
  text: string;
  url: string;
  location?: string;
  headers: Headers;
}

/**
 * A browser over fetch whose requests go to the processes in turn (or to the one `via`
 * names), with one cookie jar for all of them: processes behind a load balancer.
 */
export class HoppingBrowser {
  private readonly cookies = new Map<string, { value: string; path: string }>();
  private next = 0;

  constructor(private readonly ports: () => number[]) {}

  hop(url: string, via?: number): string {
    const u = new URL(url);
    const ports = this.ports();
    u.port = String(via ?? ports[this.next++ % ports.length]);
    return u.toString();
  }

  async request(url: string, init: { method?: string; form?: Record<string, string>; via?: number } = {}): Promise<HttpPage> {
    const target = new URL(this.hop(url, init.via));
    const cookie = [...this.cookies.entries()]
      .filter(([, c]) => target.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
    const res = await fetch(target, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      signal: AbortSignal.timeout(20_000),
      headers: { accept: 'text/html', ...(cookie ? { cookie } : {}), ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, ...rest] = pair!.split('=');
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || rest.join('=') === '';
      if (expired) this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), { value: rest.join('='), path });
    }
    const location = res.headers.get('location');
    return { status: res.status, text: await res.text(), url, headers: res.headers, ...(location ? { location: new URL(location, url).toString() } : {}) };
  }

  /** Follows redirects until a page renders or the redirect leaves for `stopAt`. */
  async follow(page: HttpPage, stopAt: string): Promise<HttpPage> {
    let p = page;
    for (let i = 0; i < 20 && p.location && !p.location.startsWith(stopAt); i++) p = await this.request(p.location);
    return p;
  }
}

/**
 * Signs in at the test RP through the pages, hopping between processes. True when the
 * password was accepted (the browser reached the RP's callback), false when the sign-in page
 * came back; throws on anything else (a 5xx, a missing form).
 */
export async function signsIn(issuer: string, ports: () => number[], login: string, password: string): Promise<boolean> {
  const browser = new HoppingBrowser(ports);
  const redirectUri = `${issuer}/test-rp/callback`;
  const auth = new URL(`${issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: 'test-rp',
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid',
    state: 'st',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const page = await browser.follow(await browser.request(auth.toString()), redirectUri);
  if (page.status !== 200) throw new Error(`sign-in page: ${page.status} ${page.text.slice(0, 300)}`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  const action = /action="([^"]*\/password)"/.exec(page.text)?.[1];
  if (!csrf || !action) throw new Error(`no password form:\n${page.text.slice(0, 1000)}`);
  const done = await browser.follow(await browser.request(new URL(action, issuer).toString(), { method: 'POST', form: { csrf, identifier: login, password } }), redirectUri);
  if (done.location?.startsWith(redirectUri)) return true;
  if (done.status >= 400 && done.status < 500 && /<h1>Sign in<\/h1>/.test(done.text)) return false;
  throw new Error(`sign-in answered ${done.status}: ${done.text.slice(0, 500)}`);
}

export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
  /** The raw text (for checks that no stack trace or internal name leaks). */
  text: string;
}

/** One call of the reset JSON API on `base`; a connection cut (a killed process) rejects. */
export async function apiCall(base: string, method: 'GET' | 'POST', path: string, options: { secret?: string; body?: unknown; ip?: string } = {}): Promise<JsonAnswer> {
  const res = await fetch(`${base}${path}`, {
    method,
    signal: AbortSignal.timeout(20_000),
    headers: {
      accept: 'application/json',
      ...(options.secret ? { authorization: `Bearer ${options.secret}` } : {}),
      ...(options.ip ? { 'x-forwarded-for': options.ip } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON: the caller's assertion shows the text */
  }
  return { status: res.status, body, text };
}

/** No stack trace, file path or driver name in what a user sees. */
export const LEAK = /ECONNREFUSED|ioredis|ReplyError|CLUSTERDOWN|MOVED|SQLITE_|\bat .*\.(ts|js):\d+|node_modules/;
