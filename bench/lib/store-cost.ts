/**
 * Store cost of each step, counted one request at a time against rekey built in this process
 * (the same composition root as the server):
 *
 * - Redis: round trips = request/response exchanges on rekey's connections, counted in the
 *   client (round-trips.ts: a pipeline, commands sent together, or a Lua script is one), and
 *   every command executed (INFO commandstats delta, Lua's inner commands included);
 * - SQLite: statements executed (better-sqlite3's prepared statements, pragmas and execs) and
 *   transactions;
 *
 * and the space one pending reset flow takes (10,000 flows started, each from its own IP).
 */
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.ts';
import { createServices, type Services } from '../../src/services.ts';
import { buildApp } from '../../src/app.ts';
import type { BenchRedis, SmtpSink } from './aux.ts';
import {
  openSigninPage,
  openTotpPage,
  refresh,
  rekeySignIn,
  renderPage,
  resetChoose,
  resetStart,
  resetWrongCode,
  targetFor,
  totpCode,
  wrongTotp,
  type Target,
} from './flows.ts';
import { send } from './http.ts';
import { PASSWORD, type SeededUser } from './rekey.ts';
import { RoundTripCounter } from './round-trips.ts';

// --- SQLite statement counting (installed before any database is opened) --------------------

export const sqliteCounts = { statements: 0, transactions: 0 };
let patched = false;

export function countSqliteStatements(): void {
  if (patched) return;
  patched = true;
  const proto = Database.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const prepare = proto.prepare!;
  proto.prepare = function (this: unknown, ...args: unknown[]) {
    const stmt = prepare.apply(this, args) as Record<string, (...a: unknown[]) => unknown>;
    for (const m of ['run', 'get', 'all', 'iterate']) {
      const orig = stmt[m]!;
      stmt[m] = function (this: unknown, ...a: unknown[]) {
        sqliteCounts.statements += 1;
        return orig.apply(this, a);
      };
    }
    return stmt;
  };
  for (const m of ['pragma', 'exec']) {
    const orig = proto[m]!;
    proto[m] = function (this: unknown, ...a: unknown[]) {
      sqliteCounts.statements += 1;
      return orig.apply(this, a);
    };
  }
  const transaction = proto.transaction!;
  proto.transaction = function (this: unknown, ...args: unknown[]) {
    const fn = transaction.apply(this, args) as (...a: unknown[]) => unknown;
    const wrapped = function (this: unknown, ...a: unknown[]) {
      sqliteCounts.transactions += 1;
      return fn.apply(this, a);
    };
    for (const k of ['deferred', 'immediate', 'exclusive'] as const) {
      const variant = (fn as unknown as Record<string, (...a: unknown[]) => unknown>)[k];
      if (variant) {
        (wrapped as unknown as Record<string, unknown>)[k] = function (this: unknown, ...a: unknown[]) {
          sqliteCounts.transactions += 1;
          return variant.apply(this, a);
        };
      }
    }
    return wrapped;
  };
}

// --- Redis command counting ------------------------------------------------------------------

/** Real round trips of rekey's Redis connections in this process (see round-trips.ts). */
const trips = RoundTripCounter.install();

async function commandstats(redis: BenchRedis): Promise<number> {
  const stats = await redis.info('commandstats');
  let calls = 0;
  for (const [k, v] of stats) {
    if (/^cmdstat_(info|echo|monitor|ping|config|memory|dbsize)/.test(k)) continue;
    calls += Number(/calls=(\d+)/.exec(v)?.[1] ?? 0);
  }
  return calls;
}

export interface StepCost {
  step: string;
  samples: number;
  /** Redis: round trips per step; SQLite: statements per step. */
  calls: number;
  /** Redis: commands executed per step incl. inside Lua (commandstats); SQLite: transactions per step. */
  inner: number;
  /** Redis: round trips by the command that opened each. */
  byCommand?: Record<string, number>;
}

export interface FlowSpace {
  flows: number;
  /** Growth of the store per flow, everything included. */
  bytesPerFlow: number;
  /** Redis: of it, the growth of the audit trail (history, kept after the flow ends). */
  auditBytesPerFlow?: number;
  /** Redis: what the pending flow itself holds (growth without the audit trail): freed when it ends. */
  pendingBytesPerFlow?: number;
  parts: Record<string, number>;
}

export interface StoreCostResult {
  steps: StepCost[];
  space: FlowSpace;
}

interface InProcess {
  services: Services;
  server: Server;
  target: Target;
  close(): Promise<void>;
}

async function inProcess(env: Record<string, string>): Promise<InProcess> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `https://127.0.0.1:${port}`;
  const services = await createServices(parseConfig({ ...env, ISSUER: issuer, PORT: String(port) }));
  const app = await buildApp(services);
  server.on('request', app.callback);
  return {
    services,
    server,
    target: targetFor(`http://127.0.0.1:${port}`, issuer, 7_000_000),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
    },
  };
}

const RESETS = '/api/v1/resets';

export async function measureStoreCost(o: {
  env: Record<string, string>;
  backend: 'sqlite' | 'redis';
  redis?: BenchRedis;
  smtp: SmtpSink;
  users: SeededUser[];
  admins: SeededUser[];
  /** The server's SQLite file (space per flow). */
  sqliteFile?: string;
  flows: number;
  progress: (s: string) => void;
}): Promise<StoreCostResult> {
  if (o.backend === 'sqlite') countSqliteStatements();
  const app = await inProcess(o.env);
  // The measurement's own connection (INFO) is not rekey's.
  if (o.redis) trips.ignore(o.redis.client);
  const t = app.target;
  const steps: StepCost[] = [];
  const samples = 4;
  let users = [...o.users];
  let admins = [...o.admins];
  const nextUser = (): SeededUser => users.shift() ?? fail('out of users');
  const nextAdmin = (): SeededUser => admins.shift() ?? fail('out of admins');

  async function measure(step: string, prepare: () => Promise<() => Promise<void>>): Promise<void> {
    let calls = 0;
    let inner = 0;
    const byCommand = new Map<string, number>();
    for (let i = 0; i < samples; i += 1) {
      const op = await prepare();
      if (o.redis) {
        const cs0 = await commandstats(o.redis);
        const before = trips.snapshot();
        await op();
        const d = trips.since(before);
        const cs1 = await commandstats(o.redis);
        for (const [k, v] of d.byFirstCommand) byCommand.set(k, (byCommand.get(k) ?? 0) + v);
        calls += d.roundTrips;
        inner += cs1 - cs0;
      } else {
        const s0 = sqliteCounts.statements;
        const x0 = sqliteCounts.transactions;
        await op();
        calls += sqliteCounts.statements - s0;
        inner += sqliteCounts.transactions - x0;
      }
    }
    const cost: StepCost = { step, samples, calls: calls / samples, inner: inner / samples };
    if (o.redis) cost.byCommand = Object.fromEntries([...byCommand].map(([k, v]) => [k, v / samples]).sort((a, b) => Number(b[1]) - Number(a[1])));
    steps.push(cost);
    o.progress(`    ${step}: ${cost.calls.toFixed(1)} ${o.backend === 'redis' ? 'round trips' : 'statements'}`);
  }

  const tokens: string[] = [];
  await measure('sign-in (password only, 5 requests)', async () => {
    const u = nextUser();
    return async () => {
      const tok = await rekeySignIn(t, { login: u.login, password: PASSWORD });
      if (tok.refresh_token) tokens.push(tok.refresh_token);
    };
  });
  await measure('sign-in with TOTP (9 requests)', async () => {
    const a = nextAdmin();
    return async () => {
      await rekeySignIn(t, { login: a.login, password: PASSWORD, totp: a.totp });
    };
  });
  await measure('refresh-token grant', async () => async () => {
    await refresh(t, tokens[0]!);
  });
  const page = await openSigninPage(t);
  await measure('sign-in page render', async () => async () => renderPage(t, page));
  const totpPage = await openTotpPage(t, { login: nextAdmin().login, password: PASSWORD });
  await measure('TOTP verify (wrong code)', async () => async () => wrongTotp(t, totpPage, 'second-factor'));

  // The reset steps, on fresh users: start, choose email, a wrong code, the right code, choose
  // the authenticator app, its code, the new password (the atomic commit).
  o.smtp.keepText(true);
  type Live = { u: SeededUser; flow: string; secret: string; email: string; totp: string };
  const live: Live[] = [];
  await measure('reset start', async () => {
    const u = nextUser();
    return async () => {
      const r = await resetStart(t, RESETS, u.login);
      const email = r.methods.find((m) => m.kind === 'email')!.ref;
      const totp = r.methods.find((m) => m.kind === 'authenticator_app')!.ref;
      live.push({ u, flow: r.flow, secret: r.secret, email, totp });
    };
  });
  let i = 0;
  await measure('reset choose (email code sent)', async () => {
    const f = live[i++]!;
    o.smtp.forget(`${f.u.login}.private@bench.example.org`);
    return async () => resetChoose(t, RESETS, f, f.email);
  });
  i = 0;
  await measure('reset code verify (wrong code)', async () => {
    const f = live[i++]!;
    return async () => resetWrongCode(t, RESETS, f);
  });
  i = 0;
  await measure('reset code verify (right code)', async () => {
    const f = live[i++]!;
    const text = await o.smtp.latest(`${f.u.login}.private@bench.example.org`);
    const code = /\b(\d{8})\b/.exec(text)?.[1];
    if (!code) throw new Error(`no code in: ${text}`);
    return async () => {
      const r = await send(`${t.base}${RESETS}/${f.flow}/prove`, { json: { code }, headers: { ...t.headers, authorization: `Bearer ${f.secret}` } });
      if (r.status !== 200) throw new Error(`reset prove: ${r.status} ${r.text.slice(0, 200)}`);
    };
  });
  i = 0;
  await measure('reset choose (authenticator app)', async () => {
    const f = live[i++]!;
    return async () => resetChoose(t, RESETS, f, f.totp);
  });
  i = 0;
  await measure('reset TOTP verify (right code)', async () => {
    const f = live[i++]!;
    return async () => {
      const r = await send(`${t.base}${RESETS}/${f.flow}/prove`, { json: { code: totpCode(f.u.totp) }, headers: { ...t.headers, authorization: `Bearer ${f.secret}` } });
      if (r.status !== 200 || !r.text.includes('new_password')) throw new Error(`reset TOTP prove: ${r.status} ${r.text.slice(0, 200)}`);
    };
  });
  i = 0;
  await measure('reset new password (commit, argon2 hash)', async () => {
    const f = live[i++]!;
    const pw = `fresh-lantern-${Math.random().toString(36).slice(2, 10)}-meadow`;
    return async () => {
      const r = await send(`${t.base}${RESETS}/${f.flow}/password`, { json: { password: pw, confirm: pw }, headers: { ...t.headers, authorization: `Bearer ${f.secret}` } });
      if (r.status !== 200) throw new Error(`reset password: ${r.status} ${r.text.slice(0, 200)}`);
    };
  });
  o.smtp.keepText(false);

  o.progress(`    ${o.flows} pending reset flows …`);
  const space = await flowSpace(app.services, o, users);
  await app.close();
  return { steps, space };
}

/** Starts `flows` resets (each from its own IP, real accounts) and measures what the store grew by. */
async function flowSpace(services: Services, o: { backend: 'sqlite' | 'redis'; redis?: BenchRedis; sqliteFile?: string; flows: number }, users: SeededUser[]): Promise<FlowSpace> {
  const before = await spaceNow(o);
  let sample: string | undefined;
  for (let i = 0; i < o.flows; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, o.flows - i) }, async (_, j) => {
        const n = i + j;
        const u = users[n % users.length]!;
        const r = await services.resets.start(u.login, { ip: `10.200.${(n >> 8) & 255}.${n & 255}`, userAgent: 'rekey-bench/1' });
        if (!r.outcome.ok) throw new Error(`reset start: ${JSON.stringify(r.outcome)}`);
        sample ??= r.handle;
      }),
    );
  }
  const after = await spaceNow(o);
  const parts: Record<string, number> = {};
  if (o.redis) {
    const usage = async (key: string): Promise<number> => Number(await o.redis!.client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) || 0;
    parts['flow record (one key)'] = await usage(`bench:e:reset-flow:{f:${sample}}`);
    parts['per-IP start counter (one key)'] = await usage('bench:c:reset-starts:{ip:10.200.0.0}');
    const audit = ((after.audit ?? 0) - (before.audit ?? 0)) / o.flows;
    parts['audit trail (stream growth ÷ flows)'] = audit;
    const bytesPerFlow = (after.bytes - before.bytes) / o.flows;
    return { flows: o.flows, bytesPerFlow, auditBytesPerFlow: audit, pendingBytesPerFlow: bytesPerFlow - audit, parts };
  }
  for (const k of Object.keys(after.parts)) parts[k] = (after.parts[k]! - (before.parts[k] ?? 0)) / o.flows;
  return { flows: o.flows, bytesPerFlow: (after.bytes - before.bytes) / o.flows, parts };
}

async function spaceNow(o: { redis?: BenchRedis; sqliteFile?: string }): Promise<{ bytes: number; parts: Record<string, number>; audit?: number }> {
  if (o.redis) {
    // Client buffers (the query buffer a burst of commands left behind) are not data: left out.
    await new Promise((r) => setTimeout(r, 300));
    const info = await o.redis.info('memory');
    const audit = Number(await o.redis.client.call('MEMORY', 'USAGE', 'bench:log:{audit}:entries', 'SAMPLES', '0')) || 0;
    return { bytes: Number(info.get('used_memory')) - Number(info.get('mem_clients_normal') ?? 0), parts: {}, audit };
  }
  const db = new Database(o.sqliteFile!);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    const pages = Number(db.pragma('page_count', { simple: true })) - Number(db.pragma('freelist_count', { simple: true }));
    const parts: Record<string, number> = {};
    for (const [name, sql] of [
      ['ephemeral rows: key + value bytes (flow record)', 'SELECT coalesce(sum(length(key) + length(value)), 0) AS n FROM ephemeral'],
      ['counter rows: key bytes (per-IP start counter)', 'SELECT coalesce(sum(length(key)), 0) AS n FROM counters'],
      ['log rows: entry bytes (audit trail)', 'SELECT coalesce(sum(length(entry)), 0) AS n FROM logs'],
    ] as const) {
      parts[name] = Number((db.prepare(sql).get() as { n: number }).n);
    }
    return { bytes: pages * pageSize, parts };
  } finally {
    db.close();
  }
}

function fail(message: string): never {
  throw new Error(message);
}
