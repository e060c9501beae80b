/**
 * The one configuration schema. Every setting is an environment variable; each entry says
 * what it means, its default and what is allowed. `docs/configuration.md` is generated from
 * this file (`npm run docs:config`) and a test fails when it is stale.
 */
import { z } from 'zod';
import { METHOD_KINDS, type MethodKind } from '../domain/methods/types.ts';
import { LOCALES } from '../i18n/locales.ts';
import { contrastWithWhite } from '../branding/colour.ts';
import { FAULT_POINTS, type FaultPointName } from '../domain/fault-points.ts';
import { corpusProblem } from '../domain/breached-passwords.ts';

export type Env = Record<string, string | undefined>;

export interface Setting<T> {
  /** Group heading in the reference. */
  group: string;
  description: string;
  /** What the reference shows as the default. */
  defaultText: string;
  /** Human description of allowed values, used in errors and the reference. */
  allowed: string;
  /** Secret settings may come from `NAME_FILE` and are never logged. */
  secret?: boolean;
  /** Parses the raw value (undefined when unset) given the already parsed settings. */
  parse: (raw: string | undefined, prior: Prior) => T;
}

class InvalidValue extends Error {
  /** What exactly is wrong, when more than "invalid" helps (e.g. which line of a file). */
  constructor(readonly reason?: string) {
    super(reason);
  }
}

/** The earlier settings a default may depend on (typed apart from ParsedConfig to avoid a cycle). */
export interface Prior {
  NODE_ENV?: 'development' | 'production' | 'test';
  PORT?: number;
  ISSUER?: string;
  PRODUCT_NAME?: string;
  TWO_FACTOR?: 'off' | 'admins' | 'all';
}

function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

function fromZod<T>(schema: z.ZodType<T>, raw: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new InvalidValue();
  return r.data;
}

function int(min: number, max: number, def: number | ((p: Prior) => number)) {
  return (raw: string | undefined, p: Prior): number => {
    if (raw === undefined || raw === '') return typeof def === 'function' ? def(p) : def;
    if (!/^-?\d+$/.test(raw.trim())) throw new InvalidValue();
    return fromZod(z.coerce.number().int().min(min).max(max), raw.trim());
  };
}

function bool(def: boolean | ((p: Prior) => boolean)) {
  return (raw: string | undefined, p: Prior): boolean => {
    if (raw === undefined || raw === '') return typeof def === 'function' ? def(p) : def;
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    throw new InvalidValue();
  };
}

function oneOf<const T extends string>(values: readonly T[], def: T) {
  return (raw: string | undefined): T => {
    if (raw === undefined || raw === '') return def;
    const v = raw.trim() as T;
    if (!values.includes(v)) throw new InvalidValue();
    return v;
  };
}

function optionalString(check?: (v: string) => boolean) {
  return (raw: string | undefined): string | undefined => {
    if (raw === undefined || raw.trim() === '') return undefined;
    if (check && !check(raw.trim())) throw new InvalidValue();
    return raw.trim();
  };
}

function isUrl(protocols: string[]) {
  return (v: string): boolean => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  };
}

/** A rotatable key list: comma-separated, newest first, each ≥ 32 characters. */
function keyList(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const keys = raw.split(',').map((s) => s.trim());
  if (keys.some((k) => k.length < 32)) throw new InvalidValue();
  return keys;
}

// The method kinds come from the domain's one list (src/domain/methods/types.ts has no dependencies).
export { METHOD_KINDS, type MethodKind };

/** Methods that go to a phone (SMS or voice) and so need a gateway and a country allowlist. */
export const PHONE_METHOD_KINDS = ['mobile_phone', 'office_phone'] as const satisfies readonly MethodKind[];

/** Splits a list on `separator`, trimming each entry; refuses empty entries and repeats. */
function entries(raw: string, separator: string, key: (v: string) => string = (v) => v): string[] {
  const items = raw.split(separator).map((s) => s.trim());
  if (items.some((v) => v === '')) throw new InvalidValue();
  if (new Set(items.map(key)).size !== items.length) throw new InvalidValue();
  return items;
}

/** Comma-separated method kinds: known names only, no repeats, at least one. */
function methodList(def: readonly MethodKind[]) {
  return (raw: string | undefined): MethodKind[] => {
    if (raw === undefined || raw.trim() === '') return [...def];
    const items = entries(raw, ',');
    for (const v of items) if (!(METHOD_KINDS as readonly string[]).includes(v)) throw new InvalidValue();
    return items as MethodKind[];
  };
}

function oneOrTwo(def: 1 | 2) {
  return (raw: string | undefined, p: Prior): 1 | 2 => int(1, 2, def)(raw, p) as 1 | 2;
}

/** ISO 3166-1 alpha-2 region code, upper-cased. */
const isRegion = (v: string): boolean => /^[A-Z]{2}$/.test(v);

/**
 * Text of a custom security question: NFKC, inner whitespace collapsed (as
 * `customQuestions` in src/domain/methods/questions.ts derives ids, so repeats are caught here).
 */
function questionText(v: string): string {
  return v.normalize('NFKC').replace(/\s+/g, ' ').trim();
}

const isDev = (p: Prior): boolean => p.NODE_ENV !== 'production';

export const settings = {
  NODE_ENV: setting({
    group: 'Server',
    description:
      'Run mode. `development` seeds demo users, serves the demo app and the dev outbox, and generates keys into `DATA_DIR`; `production` refuses unsafe settings.',
    defaultText: 'development',
    allowed: 'development, production, test',
    parse: oneOf(['development', 'production', 'test'] as const, 'development'),
  }),
  PORT: setting({
    group: 'Server',
    description: 'TCP port the HTTP server listens on.',
    defaultText: '3000',
    allowed: 'integer 0–65535 (0 picks a free port)',
    parse: int(0, 65535, 3000),
  }),
  WEB_CONCURRENCY: setting({
    group: 'Server',
    description:
      'Worker processes serving the port (node:cluster; each has its own event loop and argon2 thread pool) on the one shared store. More than 1 uses more cores for the work besides hashing (argon2 already runs on every core through the thread pool, `UV_THREADPOOL_SIZE`); see docs/performance.md for what it gains. Metrics are per worker: with more than 1, a scrape sees one of them.',
    defaultText: '1',
    allowed: 'integer 1–64',
    parse: int(1, 64, 1),
  }),
  ISSUER: setting({
    group: 'Server',
    description:
      'Public base URL of rekey: the OpenID Connect issuer. Every URL rekey builds starts here; the `Host` header is never used. With https every cookie is Secure and named with the `__Host-` prefix (`__Secure-` for the two interaction cookies scoped to one sign-in\'s path); with http (development) the names have no prefix.',
    defaultText: 'http://localhost:$PORT',
    allowed: 'http(s) URL without query or fragment; https in production',
    parse: (raw, p) => {
      const v = raw?.trim() || `http://localhost:${p.PORT ?? 3000}`;
      if (!isUrl(['http:', 'https:'])(v)) throw new InvalidValue();
      const u = new URL(v);
      if (u.search || u.hash) throw new InvalidValue();
      return v.replace(/\/+$/, '');
    },
  }),
  DATA_DIR: setting({
    group: 'Server',
    description:
      'Folder of the embedded SQLite store and of the keys generated in development.',
    defaultText: './data',
    allowed: 'a writable folder path',
    parse: (raw) => raw?.trim() || './data',
  }),
  AUDIT_RETENTION_DAYS: setting({
    group: 'Server',
    description: 'How long audit events stay in the store (they are also written as JSON log lines).',
    defaultText: '180',
    allowed: 'integer 1–3650',
    parse: int(1, 3650, 180),
  }),
  ADMIN_DASHBOARD: setting({
    group: 'Server',
    description:
      'Serve the read-only admin dashboard at `/admin` (report, charts, recent audit events). Only active admins who sign in with a second factor get in.',
    defaultText: 'true',
    allowed: 'true, false',
    parse: bool(true),
  }),
  ADMIN_SESSION_MINUTES: setting({
    group: 'Server',
    description: 'How long a dashboard sign-in lasts before the admin signs in again (password and second factor).',
    defaultText: '30',
    allowed: 'integer 5–480',
    parse: int(5, 480, 30),
  }),
  PRODUCT_NAME: setting({
    group: 'Branding',
    description: 'Name shown on every page and in messages.',
    defaultText: 'rekey',
    allowed: '1–60 characters',
    parse: (raw) => {
      const v = raw?.trim() || 'rekey';
      if (v.length > 60) throw new InvalidValue();
      return v;
    },
  }),
  HELPDESK_URL: setting({
    group: 'Branding',
    description: 'Link to the helpdesk, shown on sign-in and recovery pages.',
    defaultText: '(unset: no link)',
    allowed: 'http(s) or mailto: URL',
    parse: optionalString(isUrl(['http:', 'https:', 'mailto:'])),
  }),
  LOGO_URL: setting({
    group: 'Branding',
    description:
      'Logo shown next to the product name: an https URL (its origin is added to the pages\' `img-src`) or a path on rekey\'s own origin. Prefer `LOGO_FILE`, which keeps every page free of other origins.',
    defaultText: '(unset: the product name alone)',
    allowed: 'https URL, or a path starting with /',
    parse: optionalString((v) => isUrl(['https:'])(v) || /^\/[^/\\]/.test(v)),
  }),
  LOGO_FILE: setting({
    group: 'Branding',
    description: 'Logo file served by rekey itself at `/assets/logo` (read once at start-up). Takes the place of `LOGO_URL`.',
    defaultText: '(unset)',
    allowed: 'path of a readable .svg, .png, .webp or .jpg file up to 512 KiB',
    parse: optionalString((v) => /\.(svg|png|webp|jpe?g)$/i.test(v)),
  }),
  BRAND_COLOR: setting({
    group: 'Branding',
    description:
      'Primary colour of buttons, links and the header. It carries white button text and is used as link text on white, so it must be dark enough for both (contrast ≥ 4.5:1, WCAG AA).',
    defaultText: '#1f4fd1',
    allowed: 'hex colour #rrggbb with contrast ≥ 4.5:1 against white',
    parse: (raw) => {
      const v = (raw?.trim() || '#1f4fd1').toLowerCase();
      if (!/^#[0-9a-f]{6}$/.test(v) || contrastWithWhite(v) < 4.5) throw new InvalidValue();
      return v;
    },
  }),
  FOOTER_LINKS: setting({
    group: 'Branding',
    description: 'Links in the footer of every page (privacy notice, terms, status page), in order.',
    defaultText: '(none)',
    allowed: 'up to 6 entries `Label=URL` separated by `;`, each URL http(s) or mailto:, labels 1–40 characters',
    parse: (raw) => {
      if (raw === undefined || raw.trim() === '') return [];
      const items = entries(raw.trim().replace(/;$/, ''), ';');
      if (items.length > 6) throw new InvalidValue();
      return items.map((item) => {
        const at = item.indexOf('=');
        const label = item.slice(0, at).trim();
        const url = item.slice(at + 1).trim();
        if (at < 1 || !label || label.length > 40 || !isUrl(['http:', 'https:', 'mailto:'])(url)) throw new InvalidValue();
        return { label, url };
      });
    },
  }),
  DEFAULT_LOCALE: setting({
    group: 'Branding',
    description:
      'Language of pages, emails and texts when neither the relying party\'s `ui_locales` nor the browser\'s `Accept-Language` names a supported one, and of messages sent outside a request (CLI).',
    defaultText: 'en',
    allowed: LOCALES.join(', '),
    parse: oneOf(LOCALES, 'en'),
  }),
  TRUST_PROXY_HOPS: setting({
    group: 'Server',
    description:
      'How many reverse proxies in front of rekey append to `X-Forwarded-For`. The client IP is taken that many hops from the right, and `X-Forwarded-Proto` is believed only from them; 0 ignores the headers, so a forged one changes nothing. Production needs 1 or more: rekey has no TLS of its own.',
    defaultText: '0 (production refuses 0)',
    allowed: 'integer 0–10',
    parse: int(0, 10, 0),
  }),
  MAX_BODY_BYTES: setting({
    group: 'Server',
    description: 'Largest accepted form or JSON body; larger ones get 413 and change nothing.',
    defaultText: '16384',
    allowed: 'integer 1024–1048576',
    parse: int(1024, 1048576, 16384),
  }),
  LOG_LEVEL: setting({
    group: 'Server',
    description: 'pino log level. Logs never contain passwords, codes or tokens.',
    defaultText: 'info (silent in test)',
    allowed: 'fatal, error, warn, info, debug, trace, silent',
    parse: (raw, p) =>
      oneOf(
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
        p.NODE_ENV === 'test' ? 'silent' : 'info',
      )(raw),
  }),
  REDIS_URL: setting({
    group: 'Store',
    description:
      'Use a Redis server as the store instead of the embedded SQLite store (scale-out: several rekey processes share it).',
    defaultText: '(unset: SQLite in DATA_DIR)',
    allowed: 'redis:// or rediss:// URL',
    secret: true,
    parse: optionalString(isUrl(['redis:', 'rediss:'])),
  }),
  REDIS_CLUSTER_NODES: setting({
    group: 'Store',
    description: 'Use a Redis Cluster as the store: comma-separated seed nodes.',
    defaultText: '(unset)',
    allowed: 'comma-separated host:port list',
    parse: (raw) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const nodes = raw.split(',').map((s) => s.trim());
      for (const n of nodes) if (!/^[A-Za-z0-9.\-:[\]]+:\d{1,5}$/.test(n)) throw new InvalidValue();
      return nodes;
    },
  }),
  REDIS_KEY_PREFIX: setting({
    group: 'Store',
    description: 'Prefix of every Redis key rekey writes, so several deployments can share one Redis.',
    defaultText: 'rekey:',
    allowed: '1–64 characters from A–Z a–z 0–9 : _ -',
    parse: (raw) => {
      const v = raw?.trim() || 'rekey:';
      if (!/^[A-Za-z0-9:_-]{1,64}$/.test(v)) throw new InvalidValue();
      return v;
    },
  }),
  REDIS_WAIT_REPLICAS: setting({
    group: 'Store',
    description:
      'How many replicas must confirm a password change (a reset\'s commit, a changed or temporary password) before rekey tells the user it is done, with Redis `WAIT` on the primary that took it, so a primary failover right after cannot undo it. A primary with fewer connected replicas waits for those it has; one without replicas does not wait. 0 never waits.',
    defaultText: '1',
    allowed: 'integer 0–5',
    parse: int(0, 5, 1),
  }),
  REDIS_WAIT_TIMEOUT_MS: setting({
    group: 'Store',
    description:
      'How long a password change waits for `REDIS_WAIT_REPLICAS` replicas. When they do not confirm in time the change still stands (the primary has it, and a retry could not undo it): the user is told it is done and a `replica_wait_timeout` warning is logged, because a failover of that primary before its replicas catch up would lose it.',
    defaultText: '2000',
    allowed: 'integer 100–10000',
    parse: int(100, 10000, 2000),
  }),
  CLIENTS_FILE: setting({
    group: 'Clients and keys',
    description:
      'JSON file listing the relying parties (see README, "Clients"). In development the demo app is added automatically.',
    defaultText: '(unset: no clients besides the demo app)',
    allowed: 'path of a readable JSON file',
    parse: optionalString(),
  }),
  JWKS: setting({
    group: 'Clients and keys',
    description:
      'Private signing keys as a JWK Set (`{"keys":[...]}`), each with a unique `kid`; the first key of each algorithm signs, the others still verify (rotation: put the new key first). Required in production; development generates keys into `DATA_DIR`.',
    defaultText: '(generated in development)',
    allowed: 'JWK Set JSON with private keys and unique kids',
    secret: true,
    parse: optionalString(),
  }),
  COOKIE_KEYS: setting({
    group: 'Clients and keys',
    description:
      'Keys that sign cookies, comma-separated; the first signs, all verify (rotation: put the new key first). Required in production, each at least 32 characters.',
    defaultText: '(generated in development)',
    allowed: 'comma-separated strings of ≥ 32 characters',
    secret: true,
    parse: keyList,
  }),
  HMAC_KEYS: setting({
    group: 'Clients and keys',
    description:
      'Keys of the keyed hashes (HMAC) under which codes and identifiers are stored, comma-separated; the first writes, all verify (rotation: put the new key first). Required in production, each at least 32 characters.',
    defaultText: '(generated in development)',
    allowed: 'comma-separated strings of ≥ 32 characters',
    secret: true,
    parse: keyList,
  }),
  TOTP_KEYS: setting({
    group: 'Clients and keys',
    description:
      'Keys that encrypt authenticator-app (TOTP) secrets at rest, comma-separated; the first encrypts, all decrypt (rotation: put the new key first). Required in production, each at least 32 characters.',
    defaultText: '(generated in development)',
    allowed: 'comma-separated strings of ≥ 32 characters',
    secret: true,
    parse: keyList,
  }),
  SMTP_URL: setting({
    group: 'Delivery',
    description: 'SMTP server for email (`smtp://user:pass@host:port` or `smtps://…`).',
    defaultText: '(unset: dev outbox in development)',
    allowed: 'smtp:// or smtps:// URL',
    secret: true,
    parse: optionalString(isUrl(['smtp:', 'smtps:'])),
  }),
  MAIL_FROM: setting({
    group: 'Delivery',
    description: 'Sender of every email rekey sends.',
    defaultText: '"$PRODUCT_NAME" <no-reply@ISSUER host>',
    allowed: 'an address, optionally with a display name: Name <addr@host>',
    parse: (raw, p) => {
      const v = raw?.trim();
      if (!v) return `"${p.PRODUCT_NAME ?? 'rekey'}" <no-reply@${new URL(p.ISSUER ?? 'http://localhost').hostname}>`;
      if (!/^([^<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(v)) throw new InvalidValue();
      return v;
    },
  }),
  SMTP_TIMEOUT_MS: setting({
    group: 'Delivery',
    description:
      'How long rekey waits for the SMTP server at each stage (connecting, greeting, every answer) before treating a send as failed, so a hanging mail server gives the user a clear error instead of a spinner.',
    defaultText: '10000',
    allowed: 'integer 1000–60000',
    parse: int(1000, 60000, 10000),
  }),
  DEV_OUTBOX: setting({
    group: 'Delivery',
    description:
      'Keep messages that would be emailed or texted in the dev outbox at `/dev/outbox` instead of sending them. Refused in production.',
    defaultText: 'true in development and test, false in production',
    allowed: 'true, false',
    parse: bool(isDev),
  }),
  DEMO: setting({
    group: 'Development',
    description:
      'Seed demo users (printed at start) and serve the demo relying party at `/`. Refused in production.',
    defaultText: 'true in development, false otherwise',
    allowed: 'true, false',
    parse: bool((p) => p.NODE_ENV === 'development'),
  }),
  ARGON2_MEMORY_KIB: setting({
    group: 'Passwords',
    description: 'argon2id memory cost in KiB (OWASP: 19456).',
    defaultText: '19456',
    allowed: 'integer 7168–1048576',
    parse: int(7168, 1048576, 19456),
  }),
  ARGON2_TIME_COST: setting({
    group: 'Passwords',
    description: 'argon2id passes.',
    defaultText: '2',
    allowed: 'integer 2–20',
    parse: int(2, 20, 2),
  }),
  ARGON2_PARALLELISM: setting({
    group: 'Passwords',
    description: 'argon2id lanes.',
    defaultText: '1',
    allowed: 'integer 1–16',
    parse: int(1, 16, 1),
  }),
  TWO_FACTOR: setting({
    group: 'Two-factor sign-in',
    description:
      'Who must prove a second factor at sign-in, from their registered methods: nobody, admins, or everyone. Users who must and have no eligible method are sent through registration (whatever SSPR_SCOPE says), never through.',
    defaultText: 'all',
    allowed: 'off, admins, all',
    parse: oneOf(['off', 'admins', 'all'] as const, 'all'),
  }),
  TWO_FACTOR_METHODS: setting({
    group: 'Two-factor sign-in',
    description:
      'Registered methods that count as a second factor. Default: the strong ones. Email can be added; security questions never count (they are something you know, like the password). Each must be in SSPR_METHODS.',
    defaultText: 'the strong methods enabled in SSPR_METHODS (phones, authenticator app, recovery codes, security key)',
    allowed: 'comma-separated, no repeats: email, mobile_phone, office_phone, authenticator_app, recovery_codes, security_key',
    parse: (raw): MethodKind[] | undefined => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const kinds = methodList([])(raw);
      if (kinds.length === 0 || kinds.includes('security_questions')) throw new InvalidValue();
      return kinds;
    },
  }),
  REMEMBER_DEVICE_DAYS: setting({
    group: 'Two-factor sign-in',
    description:
      'Offer "don\'t ask again on this device" for this many days after a second factor (0 = never). Remembered devices are stored server-side, listed and revocable in My security info and the CLI, end with a password reset or change and when methods are removed, and never satisfy a step-up.',
    defaultText: '0',
    allowed: 'integer 0–90',
    parse: int(0, 90, 0),
  }),
  PASSWORD_MIN_LENGTH: setting({
    group: 'Passwords',
    description:
      'Shortest accepted new password, in characters (NIST 800-63B: 8 when a second factor is required of everyone, 15 when the password may be the only factor).',
    defaultText: '8 with TWO_FACTOR=all, else 15',
    allowed: 'integer 8–64',
    parse: int(8, 64, (p) => (p.TWO_FACTOR === 'all' ? 8 : 15)),
  }),
  PASSWORD_MAX_LENGTH: setting({
    group: 'Passwords',
    description: 'Longest accepted new password, in characters. Passwords are never truncated.',
    defaultText: '256',
    allowed: 'integer 64–1024',
    parse: int(64, 1024, 256),
  }),
  PASSWORD_HISTORY: setting({
    group: 'Passwords',
    description: 'How many previous passwords a new password may not repeat.',
    defaultText: '5',
    allowed: 'integer 0–24',
    parse: int(0, 24, 5),
  }),
  BREACHED_PASSWORDS_FILE: setting({
    group: 'Passwords',
    description:
      'Offline breach corpus new passwords are checked against (ASVS 6.2.12, NIST 800-63B): Have I Been Pwned\'s downloadable "Pwned Passwords" SHA-1 list ordered by hash (one `HASH:COUNT` line per password, CRLF or LF), as its downloader writes it. rekey never loads it: each check binary-searches the file on disk (some 25 reads of 4 KiB), and it is opened per check, so a newer download can replace it without a restart. A password found there is refused wherever one is set (reset, change, temporary password, invitation, CLI), and a sign-in whose verified password is found there must choose a new one before it finishes (after the second factor). rekey makes no outbound calls: download and refresh the file yourself. Start-up checks that the file is readable and that its first lines have the format.',
    defaultText: '(unset: no breach check)',
    allowed: 'path of a readable file of `HEX40:COUNT` lines (uppercase SHA-1 hex, a colon, a count) in ascending hash order',
    parse: (raw) => {
      const path = optionalString()(raw);
      if (path === undefined) return undefined;
      const problem = corpusProblem(path);
      if (problem) throw new InvalidValue(problem);
      return path;
    },
  }),
  BREACHED_PASSWORDS_MIN_COUNT: setting({
    group: 'Passwords',
    description:
      'How many times a password must appear in `BREACHED_PASSWORDS_FILE` (its count) to be refused. 1 refuses every breached password; a higher value refuses only the ones seen that often.',
    defaultText: '1',
    allowed: 'integer 1–1000000',
    parse: int(1, 1_000_000, 1),
  }),
  TEMP_PASSWORD_TTL_HOURS: setting({
    group: 'Passwords',
    description:
      'Lifetime of a temporary password set by an admin; it must be changed at the next sign-in.',
    defaultText: '72',
    allowed: 'integer 1–720',
    parse: int(1, 720, 72),
  }),
  SIGNIN_LOCKOUT_THRESHOLD: setting({
    group: 'Sign-in protection',
    description:
      'Consecutive failed sign-ins of one account (or one unknown identifier) that lock it for a while.',
    defaultText: '10',
    allowed: 'integer 3–100',
    parse: int(3, 100, 10),
  }),
  SIGNIN_LOCKOUT_SECONDS: setting({
    group: 'Sign-in protection',
    description: 'First lockout duration; it doubles with every further threshold reached.',
    defaultText: '60',
    allowed: 'integer 1–86400',
    parse: int(1, 86400, 60),
  }),
  SIGNIN_LOCKOUT_MAX_SECONDS: setting({
    group: 'Sign-in protection',
    description: 'Cap of the doubling lockout duration.',
    defaultText: '3600',
    allowed: 'integer 1–604800',
    parse: int(1, 604800, 3600),
  }),
  SIGNIN_MAX_CONSECUTIVE_FAILURES: setting({
    group: 'Sign-in protection',
    description:
      'Consecutive failures after which the account stays locked until an admin unlocks it (NIST 800-63B: at most 100).',
    defaultText: '100',
    allowed: 'integer 10–100',
    parse: int(10, 100, 100),
  }),
  SIGNIN_IP_MAX_FAILURES: setting({
    group: 'Sign-in protection',
    description: 'Failed sign-ins from one client IP within the window before that IP is throttled.',
    defaultText: '50',
    allowed: 'integer 5–100000',
    parse: int(5, 100000, 50),
  }),
  SIGNIN_IP_WINDOW_SECONDS: setting({
    group: 'Sign-in protection',
    description: 'Window of the per-IP failure count.',
    defaultText: '900',
    allowed: 'integer 60–86400',
    parse: int(60, 86400, 900),
  }),
  NOTIFY_SUSPICIOUS_SIGNINS: setting({
    group: 'Sign-in protection',
    description:
      'Email every registered address of an account when failed sign-ins lock it (once per lockout), when the right password is followed by failed second factors that lock it (once per lockout), and when a sign-in succeeds after at least half of `SIGNIN_LOCKOUT_THRESHOLD` (rounded up) consecutive failures (at most once an hour). Sent after the answer, in `DEFAULT_LOCALE`; identifiers that name no account get nothing (ASVS 6.3.4).',
    defaultText: 'true',
    allowed: 'true, false',
    parse: bool(true),
  }),
  SESSION_TTL_SECONDS: setting({
    group: 'Sessions and tokens',
    description: 'Lifetime of a sign-in session at rekey.',
    defaultText: '86400',
    allowed: 'integer 300–2592000',
    parse: int(300, 2592000, 86400),
  }),
  SESSION_IDLE_SECONDS: setting({
    group: 'Sessions and tokens',
    description:
      'A sign-in session unused for this long ends (each use of it at rekey starts the count again); it never outlives `SESSION_TTL_SECONDS` from the sign-in.',
    defaultText: '28800 (8 hours)',
    allowed: 'integer 60–2592000',
    parse: int(60, 2592000, 28800),
  }),
  INTERACTION_TTL_SECONDS: setting({
    group: 'Sessions and tokens',
    description: 'Time a user has to finish the sign-in pages.',
    defaultText: '1800',
    allowed: 'integer 60–86400',
    parse: int(60, 86400, 1800),
  }),
  ACCESS_TOKEN_TTL_SECONDS: setting({
    group: 'Sessions and tokens',
    description: 'Access token lifetime.',
    defaultText: '600',
    allowed: 'integer 60–86400',
    parse: int(60, 86400, 600),
  }),
  ID_TOKEN_TTL_SECONDS: setting({
    group: 'Sessions and tokens',
    description: 'ID token lifetime.',
    defaultText: '3600',
    allowed: 'integer 60–86400',
    parse: int(60, 86400, 3600),
  }),
  REFRESH_TOKEN_TTL_SECONDS: setting({
    group: 'Sessions and tokens',
    description: 'Refresh token lifetime (only for clients allowed the refresh_token grant).',
    defaultText: '1209600',
    allowed: 'integer 300–31536000',
    parse: int(300, 31536000, 1209600),
  }),
  SSPR_SCOPE: setting({
    group: 'Self-service password reset',
    description:
      'Who must register recovery methods and may reset their own password: nobody, every account, or members of `SSPR_GROUPS`.',
    defaultText: 'all',
    allowed: 'none, all, groups',
    parse: oneOf(['none', 'all', 'groups'] as const, 'all'),
  }),
  SSPR_GROUPS: setting({
    group: 'Self-service password reset',
    description:
      'Groups whose members are in scope. Required when `SSPR_SCOPE=groups` and refused otherwise (a forgotten setting).',
    defaultText: '(unset)',
    allowed: 'comma-separated group names, 1–256 characters each, no repeats',
    parse: (raw) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const groups = entries(raw, ',');
      if (groups.some((g) => g.length > 256)) throw new InvalidValue();
      return groups;
    },
  }),
  SSPR_METHODS: setting({
    group: 'Self-service password reset',
    description:
      'Methods users may register and use at reset and for two-factor sign-in. Security questions and office phone are off by default; security questions are weak and never the only proof. Phone methods need `PHONE_COUNTRIES` (and `SMS_GATEWAY` in production). `security_key` (WebAuthn security keys and passkeys, phishing-resistant) is off by default: it needs JavaScript in the browser and an https ISSUER (or http://localhost), and each key is bound to ISSUER\'s host, so moving rekey to another host later orphans every registered key; turn it on once the host is final.',
    defaultText: 'email,mobile_phone,authenticator_app,recovery_codes',
    allowed: `comma-separated, no repeats, at least one of: ${METHOD_KINDS.join(', ')}`,
    parse: methodList(['email', 'mobile_phone', 'authenticator_app', 'recovery_codes']),
  }),
  SSPR_METHODS_REQUIRED: setting({
    group: 'Self-service password reset',
    description:
      'How many methods a user must register. Admins always need 2, neither of them security questions; that is not configurable.',
    defaultText: '1',
    allowed: '1, 2',
    parse: oneOrTwo(1),
  }),
  SSPR_PROOFS_REQUIRED: setting({
    group: 'Self-service password reset',
    description:
      'How many methods a user must prove at reset (two proofs are two different methods and destinations). Admins always prove 2, never with security questions; that is not configurable.',
    defaultText: '1',
    allowed: '1, 2',
    parse: oneOrTwo(1),
  }),
  SSPR_REGISTER_AT_SIGNIN: setting({
    group: 'Self-service password reset',
    description:
      'Send a user in scope who has not registered enough methods (or whose registration is due for re-confirmation) through registration during sign-in, before the relying party gets its tokens.',
    defaultText: 'true',
    allowed: 'true, false',
    parse: bool(true),
  }),
  SSPR_POSTPONE_LIMIT: setting({
    group: 'Self-service password reset',
    description: 'How many times a user may postpone registration at sign-in; 0 does not allow postponing.',
    defaultText: '0',
    allowed: 'integer 0–10',
    parse: int(0, 10, 0),
  }),
  SSPR_RECONFIRM_DAYS: setting({
    group: 'Self-service password reset',
    description: 'Days after which a user is asked to re-confirm their registered methods; 0 never asks.',
    defaultText: '180',
    allowed: 'integer 0–730',
    parse: int(0, 730, 180),
  }),
  SSPR_BOOTSTRAP: setting({
    group: 'Self-service password reset',
    description:
      "Proof needed, besides the password, for an account's first registration. `email`: a code sent to the primary address an admin provisioned. `tap`: a temporary access pass issued by an admin with the CLI only. `password`: the password alone, which is WEAK: whoever has stolen a password could register their own phone and then reset at will.",
    defaultText: 'email',
    allowed: 'email, tap, password',
    parse: oneOf(['email', 'tap', 'password'] as const, 'email'),
  }),
  SSPR_QUESTIONS_REGISTER: setting({
    group: 'Self-service password reset',
    description: 'How many security questions a user answers when registering that method.',
    defaultText: '3',
    allowed: 'integer 3–5',
    parse: int(3, 5, 3),
  }),
  SSPR_QUESTIONS_ANSWER: setting({
    group: 'Self-service password reset',
    description:
      'How many of their registered security questions a user must answer at reset; at most `SSPR_QUESTIONS_REGISTER`.',
    defaultText: '3',
    allowed: 'integer 3–5',
    parse: int(3, 5, 3),
  }),
  SSPR_CUSTOM_QUESTIONS: setting({
    group: 'Self-service password reset',
    description: 'Security questions offered in addition to the built-in ones, separated by `|`.',
    defaultText: '(none)',
    allowed: 'questions separated by |, each 10–200 characters, no repeats',
    parse: (raw) => {
      if (raw === undefined || raw.trim() === '') return [];
      const questions = entries(raw, '|', (q) => questionText(q).toLowerCase()).map(questionText);
      for (const q of questions) {
        const length = [...q].length;
        if (length < 10 || length > 200 || /\p{Cc}/u.test(q)) throw new InvalidValue();
      }
      return questions;
    },
  }),
  RESET_FLOW_TTL_MINUTES: setting({
    group: 'Self-service password reset',
    description: 'Time a user has to finish "Forgot password?" (Entra: 15 minutes).',
    defaultText: '15',
    allowed: 'integer 5–60',
    parse: int(5, 60, 15),
  }),
  RESET_MAX_FAILED_PROOFS: setting({
    group: 'Self-service password reset',
    description: 'Failed proofs (wrong codes, answers) per account within RESET_BLOCK_HOURS before reset is blocked for that account. Normal sign-in is never locked by it.',
    defaultText: '5',
    allowed: 'integer 3–20',
    parse: int(3, 20, 5),
  }),
  RESET_BLOCK_HOURS: setting({
    group: 'Self-service password reset',
    description: 'Window of the failed-proof count, and how long reset stays blocked after it.',
    defaultText: '24',
    allowed: 'integer 1–168',
    parse: int(1, 168, 24),
  }),
  RESET_STARTS_PER_IP: setting({
    group: 'Self-service password reset',
    description: 'Resets one client IP may start per hour.',
    defaultText: '30',
    allowed: 'integer 5–10000',
    parse: int(5, 10000, 30),
  }),
  RESET_NOTIFY_ADMINS: setting({
    group: 'Self-service password reset',
    description: 'Email every other admin when an admin resets their password (a taken-over admin is everyone\'s business).',
    defaultText: 'true',
    allowed: 'true, false',
    parse: bool(true),
  }),
  TAP_TTL_HOURS: setting({
    group: 'Self-service password reset',
    description: 'Lifetime of a temporary access pass (`SSPR_BOOTSTRAP=tap`).',
    defaultText: '8',
    allowed: 'integer 1–8',
    parse: int(1, 8, 8),
  }),
  INVITE_TTL_HOURS: setting({
    group: 'Self-service password reset',
    description: 'Lifetime of an invitation code.',
    defaultText: '72',
    allowed: 'integer 1–720',
    parse: int(1, 720, 72),
  }),
  RECENT_PROOF_MINUTES: setting({
    group: 'Self-service password reset',
    description:
      'How recent the password and method proof must be for a user to change their security info (methods).',
    defaultText: '10',
    allowed: 'integer 1–60',
    parse: int(1, 60, 10),
  }),
  EMAIL_CODE_DIGITS: setting({
    group: 'Codes and throttles',
    description: 'Digits of a code sent by email.',
    defaultText: '8',
    allowed: 'integer 6–10',
    parse: int(6, 10, 8),
  }),
  PHONE_CODE_DIGITS: setting({
    group: 'Codes and throttles',
    description: 'Digits of a code sent by SMS or read out in a voice call.',
    defaultText: '6',
    allowed: 'integer 6–10',
    parse: int(6, 10, 6),
  }),
  CODE_TTL_SECONDS: setting({
    group: 'Codes and throttles',
    description: 'Lifetime of a code sent by email, SMS or voice (ASVS: at most 10 minutes).',
    defaultText: '600',
    allowed: 'integer 60–600',
    parse: int(60, 600, 600),
  }),
  CODE_MAX_ATTEMPTS: setting({
    group: 'Codes and throttles',
    description: 'Wrong entries of one code after which the code dies.',
    defaultText: '5',
    allowed: 'integer 1–10',
    parse: int(1, 10, 5),
  }),
  TOTP_DRIFT_STEPS: setting({
    group: 'Codes and throttles',
    description:
      'Authenticator-app (TOTP) time steps of 30 s accepted on either side of the current one. 0: only the current step, so a code lives at most 30 seconds (ASVS 6.5.5). 1: also the previous and the next step, for users whose phone clock drifts (the window RFC 6238 allows; a code then works for up to 90 seconds). Either way each step is accepted once.',
    defaultText: '0',
    allowed: '0, 1',
    parse: (raw, p): 0 | 1 => int(0, 1, 0)(raw, p) as 0 | 1,
  }),
  EMAIL_SEND_LIMIT: setting({
    group: 'Codes and throttles',
    description:
      'Emails with codes per window, counted per account and per address; reaching it blocks sending for `SEND_BLOCK_SECONDS`.',
    defaultText: '10',
    allowed: 'integer 1–100',
    parse: int(1, 100, 10),
  }),
  EMAIL_SEND_WINDOW_SECONDS: setting({
    group: 'Codes and throttles',
    description: 'Window of `EMAIL_SEND_LIMIT`.',
    defaultText: '600',
    allowed: 'integer 60–86400',
    parse: int(60, 86400, 600),
  }),
  PHONE_SEND_LIMIT: setting({
    group: 'Codes and throttles',
    description:
      'Texts and calls with codes per window, counted per account and per number; reaching it blocks sending for `SEND_BLOCK_SECONDS`.',
    defaultText: '5',
    allowed: 'integer 1–100',
    parse: int(1, 100, 5),
  }),
  PHONE_SEND_WINDOW_SECONDS: setting({
    group: 'Codes and throttles',
    description: 'Window of `PHONE_SEND_LIMIT`.',
    defaultText: '3600',
    allowed: 'integer 60–86400',
    parse: int(60, 86400, 3600),
  }),
  SEND_BLOCK_SECONDS: setting({
    group: 'Codes and throttles',
    description: 'How long sending to an account or destination stays blocked once a send limit is reached.',
    defaultText: '86400',
    allowed: 'integer 60–604800',
    parse: int(60, 604800, 86400),
  }),
  PHONE_COUNTRIES: setting({
    group: 'Phones and gateway',
    description:
      'Countries SMS and voice calls may go to (toll-fraud protection). Empty refuses every phone number: set it to enable the phone methods. Production refuses phone methods in `SSPR_METHODS` while it is empty.',
    defaultText: '(empty: phones refused)',
    allowed: 'comma-separated ISO 3166-1 alpha-2 codes (two letters A–Z, e.g. DE,FR), no repeats',
    parse: (raw) => {
      if (raw === undefined || raw.trim() === '') return [] as string[];
      const codes = entries(raw.toUpperCase(), ',');
      if (!codes.every(isRegion)) throw new InvalidValue();
      return codes;
    },
  }),
  PHONE_DEFAULT_REGION: setting({
    group: 'Phones and gateway',
    description: 'Region of phone numbers typed without a leading `+` and country code.',
    defaultText: '(unset: numbers need +country code)',
    allowed: 'ISO 3166-1 alpha-2 code (two letters A–Z)',
    parse: (raw) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const v = raw.trim().toUpperCase();
      if (!isRegion(v)) throw new InvalidValue();
      return v;
    },
  }),
  SMS_GATEWAY: setting({
    group: 'Phones and gateway',
    description:
      'How SMS and voice calls are sent. `none` sends nothing (development keeps them in the dev outbox); production refuses phone methods with `none`. `twilio` needs the `TWILIO_*` settings, `webhook` the `SMS_WEBHOOK_*` settings.',
    defaultText: 'none',
    allowed: 'none, twilio, webhook',
    parse: oneOf(['none', 'twilio', 'webhook'] as const, 'none'),
  }),
  TWILIO_ACCOUNT_SID: setting({
    group: 'Phones and gateway',
    description: 'Twilio account SID (`SMS_GATEWAY=twilio`).',
    defaultText: '(unset)',
    allowed: 'AC followed by 32 hex digits',
    parse: optionalString((v) => /^AC[0-9a-fA-F]{32}$/.test(v)),
  }),
  TWILIO_AUTH_TOKEN: setting({
    group: 'Phones and gateway',
    description: 'Twilio auth token (`SMS_GATEWAY=twilio`).',
    defaultText: '(unset)',
    allowed: 'the auth token, without spaces',
    secret: true,
    parse: optionalString((v) => /^\S+$/.test(v)),
  }),
  TWILIO_FROM: setting({
    group: 'Phones and gateway',
    description: 'Twilio number texts and calls come from (`SMS_GATEWAY=twilio`).',
    defaultText: '(unset)',
    allowed: 'E.164 number: + and 8–15 digits',
    parse: optionalString((v) => /^\+[0-9]{8,15}$/.test(v)),
  }),
  TWILIO_API_BASE: setting({
    group: 'Phones and gateway',
    description: 'Base URL of the Twilio API; change it only to point tests at a local server.',
    defaultText: 'https://api.twilio.com',
    allowed: 'http(s) URL without query or fragment; https in production',
    parse: (raw) => {
      const v = raw?.trim() || 'https://api.twilio.com';
      if (!isUrl(['http:', 'https:'])(v)) throw new InvalidValue();
      const u = new URL(v);
      if (u.search || u.hash) throw new InvalidValue();
      return v.replace(/\/+$/, '');
    },
  }),
  SMS_WEBHOOK_URL: setting({
    group: 'Phones and gateway',
    description:
      'URL rekey POSTs each SMS or voice message to (`SMS_GATEWAY=webhook`). Secret because such URLs often carry a token.',
    defaultText: '(unset)',
    allowed: 'http(s) URL',
    secret: true,
    parse: optionalString(isUrl(['http:', 'https:'])),
  }),
  SMS_WEBHOOK_SECRET: setting({
    group: 'Phones and gateway',
    description: 'Shared secret that authenticates rekey to the webhook (`SMS_GATEWAY=webhook`).',
    defaultText: '(unset)',
    allowed: 'a string of ≥ 32 characters',
    secret: true,
    parse: optionalString((v) => v.length >= 32),
  }),
  GATEWAY_TIMEOUT_MS: setting({
    group: 'Phones and gateway',
    description: 'How long rekey waits for the SMS gateway before treating a send as failed.',
    defaultText: '10000',
    allowed: 'integer 1000–30000',
    parse: int(1000, 30000, 10000),
  }),
  METRICS: setting({
    group: 'Operations',
    description:
      'Serve Prometheus metrics at `/metrics` (sign-ins, second factors, registrations, resets, codes, throttles, lockouts, argon2 and store latency, process metrics). `off` answers 404. Scrapers send `Authorization: Bearer $METRICS_TOKEN`; production refuses `on` without a token; elsewhere `on` without a token serves them to anyone (start-up logs a warning).',
    defaultText: 'off',
    allowed: 'off, on',
    parse: oneOf(['off', 'on'] as const, 'off'),
  }),
  METRICS_TOKEN: setting({
    group: 'Operations',
    description: 'Bearer token a Prometheus scraper must send to read `/metrics` (`METRICS=on`).',
    defaultText: '(unset)',
    allowed: '≥ 32 characters without spaces (e.g. `openssl rand -hex 32`)',
    secret: true,
    parse: optionalString((v) => /^\S{32,}$/.test(v)),
  }),
  FAULT_POINTS: setting({
    group: 'Testing',
    description:
      'Test only: named points inside the password-reset commit where the process kills itself (SIGKILL), so tests can prove a crash there leaves nothing half-applied. Production refuses to start with it set.',
    defaultText: '(unset)',
    allowed: `comma-separated, from: ${FAULT_POINTS.join(', ')}`,
    parse: (raw): FaultPointName[] => {
      if (raw === undefined || raw.trim() === '') return [];
      const names = raw.split(',').map((v) => v.trim());
      if (names.some((n) => !(FAULT_POINTS as readonly string[]).includes(n))) throw new InvalidValue();
      return [...new Set(names)] as FaultPointName[];
    },
  }),
} as const;

export type Settings = typeof settings;
export type ParsedConfig = { [K in keyof Settings]: ReturnType<Settings[K]['parse']> };
export type SettingName = keyof Settings;

export { InvalidValue };
