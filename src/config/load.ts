/**
 * Reads the environment (plus `.env` and `NAME_FILE` secrets), validates it against the
 * schema and refuses unsafe combinations. Errors name the variable, the value and what is
 * allowed; secret values are never echoed.
 */
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { settings, InvalidValue, type Env, type ParsedConfig, type Prior, type SettingName } from './schema.ts';
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
        throw new ConfigError(`${name}=${shown(name, raw ?? '')} is invalid; allowed: ${s.allowed}`);
      }
      throw e;
    }
  }
  const config = parsed as ParsedConfig;
  checkCombinations(config);
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
  if (c.NODE_ENV !== 'production') return;
  const refuse = (what: string): never => {
    throw new ConfigError(`NODE_ENV=production refuses to start: ${what}`);
  };
  if (!c.JWKS) refuse('JWKS (or JWKS_FILE) is not set; production needs its own signing keys');
  if (!c.COOKIE_KEYS) refuse('COOKIE_KEYS (or COOKIE_KEYS_FILE) is not set; production needs its own cookie keys');
  if (!c.HMAC_KEYS) refuse('HMAC_KEYS (or HMAC_KEYS_FILE) is not set; production needs its own keys for stored codes');
  if (!c.ISSUER.startsWith('https:')) refuse(`ISSUER=${c.ISSUER} is not https`);
  if (c.DEV_OUTBOX) refuse('DEV_OUTBOX=true; messages must be delivered, not kept in the dev outbox');
  if (c.DEMO) refuse('DEMO=true; demo users and the demo app are for development only');
}

export function loadConfig(env: Env = process.env, dotenvPath = '.env'): Config {
  return parseConfig(readEnvironment(env, dotenvPath));
}

function settingNames(): SettingName[] {
  return Object.keys(settings) as SettingName[];
}
