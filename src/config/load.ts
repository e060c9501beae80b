/**
 * Reads the environment (plus `.env` and `NAME_FILE` secrets), validates it against the
 * schema and refuses unsafe combinations. Errors name the variable, the value and what is
 * allowed; secret values are never echoed.
 */
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import {
  settings,
  InvalidValue,
  PHONE_METHOD_KINDS,
  type Env,
  type MethodKind,
  type ParsedConfig,
  type Prior,
  type SettingName,
} from './schema.ts';
import { ConfigError } from '../errors.ts';

export type Config = Readonly<ParsedConfig>;

/** Merges `.env` (never overriding real variables) and resolves `NAME_FILE` secrets. */
export function readEnvironment(env: Env, dotenvPath?: string): Env {
  const merged: Env = {};
  if (dotenvPath && existsSync(dotenvPath)) {
    Object.assign(merged, parseDotenv(readFileSync(dotenvPath)));
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  for (const name of settingNames()) {
    const fileVar = `${name}_FILE`;
    const file = merged[fileVar];
    if (!file) continue;
    if (merged[name] !== undefined && merged[name] !== '') {
      throw new ConfigError(`${name} and ${fileVar} are both set; set only one of them`);
    }
    try {
      merged[name] = readFileSync(file, 'utf8').trim();
    } catch {
      throw new ConfigError(`${fileVar}=${file}: cannot read the file`);
    }
  }
  return merged;
}

function shown(name: SettingName, raw: string): string {
  if ((settings[name] as { secret?: boolean }).secret) return '(secret value hidden)';
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

/** Validates every setting in schema order (later defaults may depend on earlier values). */
export function parseConfig(env: Env): Config {
  const parsed: Partial<ParsedConfig> = {};
  const prior = parsed as Prior;
  for (const name of settingNames()) {
    const raw = env[name];
    const s = settings[name];
    try {
      (parsed as Record<string, unknown>)[name] = s.parse(raw, prior);
    } catch (e) {
      if (e instanceof InvalidValue) {
        const why = e.reason ? ` (${e.reason})` : '';
        throw new ConfigError(`${name}=${shown(name, raw ?? '')} is invalid${why}; allowed: ${s.allowed}`);
      }
      throw e;
    }
  }
  const config = parsed as ParsedConfig;
  checkCombinations(config);
  checkTwoFactor(config);
  return Object.freeze(config);
}

function checkCombinations(c: ParsedConfig): void {
  if (c.REDIS_URL && c.REDIS_CLUSTER_NODES) {
    throw new ConfigError('REDIS_URL and REDIS_CLUSTER_NODES are both set; set only one of them');
  }
  if (c.PASSWORD_MIN_LENGTH > c.PASSWORD_MAX_LENGTH) {
    throw new ConfigError(
      `PASSWORD_MIN_LENGTH=${c.PASSWORD_MIN_LENGTH} is larger than PASSWORD_MAX_LENGTH=${c.PASSWORD_MAX_LENGTH}`,
    );
  }
  if (c.SIGNIN_LOCKOUT_SECONDS > c.SIGNIN_LOCKOUT_MAX_SECONDS) {
    throw new ConfigError(
      `SIGNIN_LOCKOUT_SECONDS=${c.SIGNIN_LOCKOUT_SECONDS} is larger than SIGNIN_LOCKOUT_MAX_SECONDS=${c.SIGNIN_LOCKOUT_MAX_SECONDS}`,
    );
  }
  checkPolicy(c);
  checkGateway(c);
  checkSecurityKey(c);
  if (c.NODE_ENV !== 'production') return;
  const refuse = (what: string): never => {
    throw new ConfigError(`NODE_ENV=production refuses to start: ${what}`);
  };
  if (c.FAULT_POINTS.length > 0) {
    refuse(`FAULT_POINTS=${c.FAULT_POINTS.join(',')} is set; fault points kill the process on purpose and are for tests only`);
  }
  if (!c.JWKS) refuse('JWKS (or JWKS_FILE) is not set; production needs its own signing keys');
  if (!c.COOKIE_KEYS) refuse('COOKIE_KEYS (or COOKIE_KEYS_FILE) is not set; production needs its own cookie keys');
  if (!c.HMAC_KEYS) refuse('HMAC_KEYS (or HMAC_KEYS_FILE) is not set; production needs its own keys for stored codes');
  if (!c.ISSUER.startsWith('https:')) refuse(`ISSUER=${c.ISSUER} is not https`);
  // rekey has no TLS of its own: only a trusted proxy's X-Forwarded-Proto makes a request
  // https, and without that browsers drop the Secure, __Host- prefixed cookies.
  if (c.TRUST_PROXY_HOPS === 0) {
    refuse('TRUST_PROXY_HOPS=0; rekey serves plain HTTP behind the TLS proxy of the https ISSUER: set TRUST_PROXY_HOPS to the number of proxies (1 or more), or requests never count as https and browsers drop the sign-in cookies');
  }
  if (c.DEV_OUTBOX) refuse('DEV_OUTBOX=true; messages must be delivered, not kept in the dev outbox');
  if (c.DEMO) refuse('DEMO=true; demo users and the demo app are for development only');
  if (!c.TOTP_KEYS) {
    refuse('TOTP_KEYS (or TOTP_KEYS_FILE) is not set; production needs its own keys for authenticator secrets');
  }
  const phones = phoneMethods(c.SSPR_METHODS);
  if (phones.length > 0 && c.SMS_GATEWAY === 'none') {
    refuse(
      `SSPR_METHODS=${c.SSPR_METHODS.join(',')} enables ${phones.join(' and ')} but SMS_GATEWAY=none; phone methods need SMS_GATEWAY (twilio or webhook), or remove them from SSPR_METHODS`,
    );
  }
  if (phones.length > 0 && c.PHONE_COUNTRIES.length === 0) {
    refuse(
      `SSPR_METHODS=${c.SSPR_METHODS.join(',')} enables ${phones.join(' and ')} but PHONE_COUNTRIES is empty; list the countries SMS and calls may go to, or remove the phone methods from SSPR_METHODS`,
    );
  }
  if (!c.TWILIO_API_BASE.startsWith('https:')) refuse(`TWILIO_API_BASE=${c.TWILIO_API_BASE} is not https`);
  if (c.METRICS === 'on' && !c.METRICS_TOKEN) {
    refuse('METRICS=on but METRICS_TOKEN (or METRICS_TOKEN_FILE) is not set; production serves metrics only to scrapers that send the token');
  }
}

/** The self-service password reset policy must be satisfiable, for users and for admins. */
function checkPolicy(c: ParsedConfig): void {
  const methods = c.SSPR_METHODS.join(',');
  const enabled = c.SSPR_METHODS.length;
  if (c.SSPR_METHODS_REQUIRED > enabled) {
    throw new ConfigError(
      `SSPR_METHODS_REQUIRED=${c.SSPR_METHODS_REQUIRED} is more than the ${enabled} method${enabled === 1 ? '' : 's'} SSPR_METHODS=${methods} enables`,
    );
  }
  if (c.SSPR_PROOFS_REQUIRED > enabled) {
    throw new ConfigError(
      `SSPR_PROOFS_REQUIRED=${c.SSPR_PROOFS_REQUIRED} is more than the ${enabled} method${enabled === 1 ? '' : 's'} SSPR_METHODS=${methods} enables`,
    );
  }
  // Admins always register and prove two methods, never security questions (not configurable).
  if (c.SSPR_SCOPE !== 'none' && c.SSPR_METHODS.filter((m) => m !== 'security_questions').length < 2) {
    throw new ConfigError(
      `SSPR_SCOPE=${c.SSPR_SCOPE} with SSPR_METHODS=${methods}: admins need two methods other than security questions; enable at least two of them, or set SSPR_SCOPE=none`,
    );
  }
  if (c.SSPR_QUESTIONS_ANSWER > c.SSPR_QUESTIONS_REGISTER) {
    throw new ConfigError(
      `SSPR_QUESTIONS_ANSWER=${c.SSPR_QUESTIONS_ANSWER} is more than SSPR_QUESTIONS_REGISTER=${c.SSPR_QUESTIONS_REGISTER}; users cannot answer more questions than they registered`,
    );
  }
  if (c.SSPR_SCOPE === 'groups' && !c.SSPR_GROUPS) {
    throw new ConfigError('SSPR_SCOPE=groups but SSPR_GROUPS is not set; list the groups whose members may reset');
  }
  if (c.SSPR_SCOPE !== 'groups' && c.SSPR_GROUPS) {
    throw new ConfigError(
      `SSPR_GROUPS is set but SSPR_SCOPE=${c.SSPR_SCOPE}; set SSPR_SCOPE=groups to use the groups, or unset SSPR_GROUPS`,
    );
  }
}

/** WebAuthn works only in a secure context: https, or http on the local machine. */
function checkSecurityKey(c: ParsedConfig): void {
  if (!c.SSPR_METHODS.includes('security_key')) return;
  const url = new URL(c.ISSUER);
  const local = url.hostname === 'localhost' || url.hostname.endsWith('.localhost') || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !local) {
    throw new ConfigError(
      `SSPR_METHODS=${c.SSPR_METHODS.join(',')} enables security_key but ISSUER=${c.ISSUER} is not https; browsers offer security keys (WebAuthn) only to https sites and to http://localhost: use an https ISSUER, or remove security_key from SSPR_METHODS`,
    );
  }
}

/** The chosen SMS gateway must have what it needs to send. */
function checkGateway(c: ParsedConfig): void {
  const needs: Record<'twilio' | 'webhook', (keyof ParsedConfig)[]> = {
    twilio: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'],
    webhook: ['SMS_WEBHOOK_URL', 'SMS_WEBHOOK_SECRET'],
  };
  if (c.SMS_GATEWAY === 'none') return;
  const missing = needs[c.SMS_GATEWAY].filter((name) => c[name] === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      `SMS_GATEWAY=${c.SMS_GATEWAY} needs ${needs[c.SMS_GATEWAY].join(', ')}; not set: ${missing.join(', ')}`,
    );
  }
}

function phoneMethods(methods: readonly MethodKind[]): MethodKind[] {
  return methods.filter((m) => (PHONE_METHOD_KINDS as readonly MethodKind[]).includes(m));
}

export function loadConfig(env: Env = process.env, dotenvPath = '.env'): Config {
  return parseConfig(readEnvironment(env, dotenvPath));
}

function settingNames(): SettingName[] {
  return Object.keys(settings) as SettingName[];
}

function checkTwoFactor(c: ParsedConfig): void {
  const notEnabled = (c.TWO_FACTOR_METHODS ?? []).filter((k) => !c.SSPR_METHODS.includes(k));
  if (notEnabled.length > 0) {
    throw new ConfigError(`TWO_FACTOR_METHODS lists ${notEnabled.join(', ')}, which SSPR_METHODS=${c.SSPR_METHODS.join(',')} does not enable; enable them or drop them from TWO_FACTOR_METHODS`);
  }
  const strongEnabled = c.SSPR_METHODS.filter((k) => k !== 'email' && k !== 'security_questions');
  if (c.TWO_FACTOR !== 'off' && !c.TWO_FACTOR_METHODS && strongEnabled.length === 0) {
    throw new ConfigError(`TWO_FACTOR=${c.TWO_FACTOR} needs a second factor, but SSPR_METHODS=${c.SSPR_METHODS.join(',')} has no strong method; add one or set TWO_FACTOR_METHODS=email`);
  }
}
