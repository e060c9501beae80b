/**
 * Development aid (not part of `npm run bench`): every Redis command one password sign-in (or a
 * TOTP one with BENCH_TRACE=totp, or a refresh grant; or the reset steps of the benchmark with
 * BENCH_TRACE=reset) sends, request by request, against rekey built in this process on a
 * redis-server of its own, with the real network round trips of each step (round-trips.ts: a
 * pipeline or a script is one).
 *
 *   node --import tsx bench/trace.ts
 *   BENCH_TRACE=reset node --import tsx bench/trace.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../src/config/load.ts';
import { createServices } from '../src/services.ts';
import { buildApp } from '../src/app.ts';
import { startRedis, startSmtpSink } from './lib/aux.ts';
import { makeKeys, PASSWORD, rekeyEnv, seed } from './lib/rekey.ts';
import { CookieJar, hidden, location, send } from './lib/http.ts';
import { authRequest, exchange, refresh, targetFor, totpCode } from './lib/flows.ts';
import { RoundTripCounter } from './lib/round-trips.ts';

const trips = RoundTripCounter.install();

const mode = process.env.BENCH_TRACE ?? 'password';
const redis = await startRedis();
const smtp = await startSmtpSink();
const server = createServer();
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const issuer = `https://127.0.0.1:${port}`;
const env = rekeyEnv({ dataDir: mkdtempSync(join(tmpdir(), 'rekey-trace-')), keys: makeKeys(), smtpUrl: smtp.url, issuer, argon2: { m: 7168, t: 2, p: 1 }, threadpool: 2, redisUrl: redis.url });
const pop = await seed(env, 5, 5);
const services = await createServices(parseConfig({ ...env, PORT: String(port) }));
server.on('request', (await buildApp(services)).callback);
const base = `http://127.0.0.1:${port}`;
const t = targetFor(base, issuer, 1);
const loc = (u: string): string => (u.startsWith(issuer) ? base + u.slice(issuer.length) : u);

trips.ignore(redis.client);
const monitor = await redis.client.duplicate().monitor();
trips.ignore(monitor);
let lines: string[] = [];
let fence: (() => void) | undefined;
monitor.on('monitor', (_t: string, args: string[], source: string) => {
  if (args[0] === 'echo' && args[1] === 'fence') return fence?.();
  if (source === 'lua') return;
  const a = args.map((x) => (x.length > 60 ? `${x.slice(0, 57)}…` : x));
  lines.push(a[0] === 'evalsha' ? `evalsha ${scriptName(args[1]!)} ${a.slice(3, 3 + Number(args[2])).join(' ')}` : a.join(' '));
});
const shas = new Map<string, string>();
import { createHash } from 'node:crypto';
import { scripts } from '../adapters/store/redis/scripts.ts';
for (const [name, def] of Object.entries(scripts)) shas.set(createHash('sha1').update(def.lua).digest('hex'), name);
function scriptName(sha: string): string {
  return shas.get(sha) ?? sha.slice(0, 8);
}
async function step<T>(label: string, f: () => Promise<T>): Promise<T> {
  lines = [];
  const before = trips.snapshot();
  const r = await f();
  const d = trips.since(before);
  await new Promise<void>((resolve) => {
    fence = resolve;
    void redis.client.echo('fence');
  });
  const starts = [...d.byFirstCommand].map(([k, v]) => (v > 1 ? `${k}×${v}` : k)).join(' ');
  console.log(`--- ${label}: ${d.roundTrips} round trips, ${lines.length} commands (round trips start with: ${starts})`);
  for (const l of lines) console.log(`    ${l}`);
  return r;
}

if (mode === 'reset') {
  const u = pop.users[1]!;
  const auth = (secret: string) => ({ ...t.headers, authorization: `Bearer ${secret}` });
  smtp.keepText(true);
  const started = await step('reset start', () => send(`${base}/api/v1/resets`, { json: { identifier: u.login }, headers: t.headers }));
  const f = JSON.parse(started.text) as { flow: string; secret: string; methods: { ref: string; kind: string }[] };
  const email = f.methods.find((m) => m.kind === 'email')!.ref;
  const app = f.methods.find((m) => m.kind === 'authenticator_app')!.ref;
  const check = (r: { status: number; text: string }, status: number): void => {
    if (r.status !== status) throw new Error(`${r.status}: ${r.text.slice(0, 200)}`);
  };
  check(await step('reset choose email', () => send(`${base}/api/v1/resets/${f.flow}/choose`, { json: { ref: email }, headers: auth(f.secret) })), 200);
  check(await step('reset prove wrong code', () => send(`${base}/api/v1/resets/${f.flow}/prove`, { json: { code: '00000000' }, headers: auth(f.secret) })), 400);
  const text = await smtp.latest(`${u.login}.private@bench.example.org`);
  const code = /\b(\d{8})\b/.exec(text)![1]!;
  check(await step('reset prove right code', () => send(`${base}/api/v1/resets/${f.flow}/prove`, { json: { code }, headers: auth(f.secret) })), 200);
  check(await step('reset choose authenticator app', () => send(`${base}/api/v1/resets/${f.flow}/choose`, { json: { ref: app }, headers: auth(f.secret) })), 200);
  check(await step('reset prove TOTP', () => send(`${base}/api/v1/resets/${f.flow}/prove`, { json: { code: totpCode(u.totp) }, headers: auth(f.secret) })), 200);
  const pw = `fresh-lantern-${Math.random().toString(36).slice(2, 10)}-meadow`;
  check(await step('reset new password', () => send(`${base}/api/v1/resets/${f.flow}/password`, { json: { password: pw, confirm: pw }, headers: auth(f.secret) })), 200);
  await step('reset GET', () => send(`${base}/api/v1/resets/${f.flow}`, { headers: auth(f.secret) }));
  monitor.disconnect();
  await services.close();
  server.close();
  await smtp.stop();
  await redis.stop();
  process.exit(0);
}
const jar = new CookieJar();
const req = authRequest(t);
const user = mode === 'totp' ? pop.admins[0]! : pop.users[0]!;
const r1 = await step('GET /auth', () => send(loc(req.url), { jar, headers: t.headers }));
const inter = location(r1, issuer);
const page = await step('GET sign-in page', () => send(loc(inter), { jar, headers: t.headers }));
const csrf = hidden(page.text, 'csrf');
let r = await step('POST password', () => send(loc(`${inter}/password`), { jar, headers: t.headers, form: { csrf, identifier: user.login, password: PASSWORD } }));
let next = location(r, issuer);
if (mode === 'totp') {
  await step('GET chooser', () => send(loc(next), { jar, headers: t.headers }));
  await step('POST choose', () => send(loc(`${inter}/second-factor`), { jar, headers: t.headers, form: { csrf, action: 'choose', ref: 'f0' } }));
  await step('GET code page', () => send(loc(inter), { jar, headers: t.headers }));
  r = await step('POST code', () => send(loc(`${inter}/second-factor`), { jar, headers: t.headers, form: { csrf, action: 'finish', code: totpCode(user.totp) } }));
  next = location(r, issuer);
}
while (!next.startsWith('https://rp.')) {
  const url = next;
  r = await step(`GET ${new URL(url).pathname.replace(/\/[A-Za-z0-9_-]{15,}/, '/<uid>')}`, () => send(loc(url), { jar, headers: t.headers }));
  next = location(r, issuer);
}
const tokens = await step('POST /token (code)', () => exchange(t, req, next));
await step('POST /token (refresh)', () => refresh(t, tokens.refresh_token!));
monitor.disconnect();
await services.close();
server.close();
await smtp.stop();
await redis.stop();
process.exit(0);
