/**
 * rekey under test: its environment (production mode behind a TLS-terminating proxy), seeding
 * many users straight into the store, and starting `node --import tsx src/server.ts` processes.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import argon2 from 'argon2';
import { parseConfig } from '../../src/config/load.ts';
import { createServices, type Services } from '../../src/services.ts';
import { generateSigningKey } from '../../src/keys.ts';
import { randomId } from '../../src/domain/secrets.ts';
import { normalizePassword } from '../../src/domain/normalize.ts';
import type { AccountRecord } from '../../src/store/types.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';
import { clientEntry } from './flows.ts';
import { base32 } from './flows.ts';
import { childPids, freePort, startScript, waitFor, type Child } from './proc.ts';
import { send } from './http.ts';

export const PASSWORD = 'bench-password-correct-horse-42';

export interface Keys {
  JWKS: string;
  COOKIE_KEYS: string;
  HMAC_KEYS: string;
  TOTP_KEYS: string;
}

export function makeKeys(): Keys {
  const k = (): string => randomBytes(32).toString('base64url');
  return { JWKS: JSON.stringify({ keys: [generateSigningKey()] }), COOKIE_KEYS: k(), HMAC_KEYS: k(), TOTP_KEYS: k() };
}

/** Throttle thresholds raised so that the load itself is never throttled or locked (all within the allowed ranges). */
export const THROTTLES = {
  SIGNIN_LOCKOUT_THRESHOLD: '100',
  SIGNIN_IP_MAX_FAILURES: '100000',
  RESET_STARTS_PER_IP: '10000',
  RESET_MAX_FAILED_PROOFS: '20',
  CODE_MAX_ATTEMPTS: '10',
  EMAIL_SEND_LIMIT: '100',
};

export interface RekeyEnvOptions {
  dataDir: string;
  keys: Keys;
  smtpUrl: string;
  issuer: string;
  redisUrl?: string;
  argon2: { m: number; t: number; p: number };
  threadpool: number;
}

export function rekeyEnv(o: RekeyEnvOptions): Record<string, string> {
  const clientsFile = join(o.dataDir, 'clients.json');
  writeFileSync(clientsFile, JSON.stringify([clientEntry()]));
  return {
    NODE_ENV: 'production',
    ISSUER: o.issuer,
    TRUST_PROXY_HOPS: '1',
    DATA_DIR: o.dataDir,
    CLIENTS_FILE: clientsFile,
    ...o.keys,
    SMTP_URL: o.smtpUrl,
    LOG_LEVEL: 'warn',
    SSPR_SCOPE: 'all',
    SSPR_METHODS: 'email,authenticator_app,recovery_codes',
    // Two proofs: an email code, then the authenticator app.
    SSPR_PROOFS_REQUIRED: '2',
    // Admins sign in with the authenticator app, everyone else with the password alone.
    TWO_FACTOR: 'admins',
    ARGON2_MEMORY_KIB: String(o.argon2.m),
    ARGON2_TIME_COST: String(o.argon2.t),
    ARGON2_PARALLELISM: String(o.argon2.p),
    UV_THREADPOOL_SIZE: String(o.threadpool),
    ...THROTTLES,
    // The load clients make a TOTP code just before they post it; under load a post can reach
    // rekey after the 30 s step turned. With the default (0: the current step only) that
    // sign-in would fail, and clients waiting for a fresh step would idle and lower the measured
    // rate. One step either side costs two more HMAC-SHA1 per check (microseconds); stated in
    // the report's conditions.
    TOTP_DRIFT_STEPS: '1',
    ...(o.redisUrl ? { REDIS_URL: o.redisUrl, REDIS_KEY_PREFIX: 'bench:' } : {}),
  };
}

export interface SeededUser {
  id: string;
  login: string;
  email: string;
  totp: string;
}

export interface Population {
  users: SeededUser[];
  admins: SeededUser[];
  /** Plain accounts whose password hash has other argon2 parameters (`other` of `seed`). */
  others: SeededUser[];
}

/** Keycloak's argon2id parameters (7 MiB, 5 passes, one lane): also on OWASP's list. */
export const KEYCLOAK_ARGON2 = { m: 7168, t: 5, p: 1 };

/**
 * Writes `users` plain accounts and `admins` admin accounts, each with an email method and an
 * authenticator app, through the store (one argon2 hash computed once and shared: every verify
 * costs the same). Returns their logins and TOTP secrets.
 */
export async function seed(env: Record<string, string>, users: number, admins: number, other?: { count: number; argon2: { m: number; t: number; p: number } }): Promise<Population> {
  const config = parseConfig(env);
  const services = await createServices(config);
  try {
    const hashWith = (m: number, t: number, p: number): Promise<string> =>
      argon2.hash(normalizePassword(PASSWORD), { type: argon2.argon2id, memoryCost: m, timeCost: t, parallelism: p });
    const hash = await hashWith(config.ARGON2_MEMORY_KIB, config.ARGON2_TIME_COST, config.ARGON2_PARALLELISM);
    const otherHash = other ? await hashWith(other.argon2.m, other.argon2.t, other.argon2.p) : hash;
    const now = services.clock();
    const make = (prefix: string, i: number, admin: boolean, passwordHash = hash): { record: AccountRecord; user: SeededUser } => {
      const login = `${prefix}${String(i).padStart(5, '0')}`;
      const email = `${login}@bench.example.com`;
      const totp = base32(randomBytes(20));
      const methods: MethodRecord[] = [
        { id: randomId(), kind: 'email', address: `${login}.private@bench.example.org`, registeredAt: now, confirmedAt: now },
        { id: randomId(), kind: 'authenticator_app', secret: services.box.seal(totp), lastStep: 0, registeredAt: now, confirmedAt: now },
      ];
      const record: AccountRecord = {
        id: randomId(12),
        login,
        emails: [{ address: email, verified: true }],
        name: `Bench ${login}`,
        groups: ['staff'],
        admin,
        status: 'active',
        passwordHash,
        passwordHistory: [],
        mustChangePassword: false,
        notBefore: 0,
        methods,
        bootstrapProvenAt: now,
        createdAt: now,
        updatedAt: now,
        version: 0,
      };
      return { record, user: { id: record.id, login, email, totp } };
    };
    const out: Population = { users: [], admins: [], others: [] };
    const all = [
      ...Array.from({ length: users }, (_, i) => ({ ...make('u', i, false), list: out.users })),
      ...Array.from({ length: admins }, (_, i) => ({ ...make('a', i, true), list: out.admins })),
      ...Array.from({ length: other?.count ?? 0 }, (_, i) => ({ ...make('k', i, false, otherHash), list: out.others })),
    ];
    for (let i = 0; i < all.length; i += 50) {
      await Promise.all(
        all.slice(i, i + 50).map(async (a) => {
          await services.store.accounts.create(a.record);
          a.list.push(a.user);
        }),
      );
    }
    out.users.sort((a, b) => a.login.localeCompare(b.login));
    out.admins.sort((a, b) => a.login.localeCompare(b.login));
    out.others.sort((a, b) => a.login.localeCompare(b.login));
    return out;
  } finally {
    await services.close();
  }
}

/** Services on the same store and keys as the servers (for in-process measurements). */
export async function services(env: Record<string, string>): Promise<Services> {
  return createServices(parseConfig(env));
}

export interface RekeyServer {
  port: number;
  base: string;
  child: Child;
}

export async function startRekey(env: Record<string, string>, port?: number): Promise<RekeyServer> {
  const p = port ?? (await freePort());
  const child = startScript('src/server.ts', { ...env, PORT: String(p) });
  const base = `http://127.0.0.1:${p}`;
  const workers = Number(env.WEB_CONCURRENCY ?? 1);
  await waitFor(
    `rekey on port ${p}`,
    async () => (await send(`${base}/readyz`)).status === 200 && (workers === 1 || childPids(child.pid).length === workers),
    60_000,
    child,
  );
  return { port: p, base, child };
}
