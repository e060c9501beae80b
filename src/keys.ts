/**
 * Signing keys, cookie keys and HMAC keys. Production takes them from config; development
 * generates them once into DATA_DIR, so restarts keep sessions and stored codes valid.
 * In every list the first key is the newest: it signs, the others still verify.
 */
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config/load.ts';
import { ConfigError } from './errors.ts';

export interface Jwk extends JsonWebKey {
  kid: string;
  kty: string;
}

export interface KeyMaterial {
  jwks: { keys: Jwk[] };
  cookieKeys: string[];
  hmacKeys: string[];
  /** Encrypt authenticator-app secrets at rest. */
  totpKeys: string[];
}

export function parseJwks(raw: string): { keys: Jwk[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('JWKS is invalid: not JSON; allowed: JWK Set JSON with private keys and unique kids');
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new ConfigError('JWKS is invalid: no "keys" array; allowed: JWK Set JSON with private keys and unique kids');
  }
  const kids = new Set<string>();
  for (const [i, k] of keys.entries()) {
    const key = k as Partial<Jwk>;
    if (typeof key.kid !== 'string' || !key.kid) throw new ConfigError(`JWKS is invalid: key ${i} has no "kid"`);
    if (kids.has(key.kid)) throw new ConfigError(`JWKS is invalid: kid "${key.kid}" appears twice`);
    kids.add(key.kid);
    if (typeof key.kty !== 'string' || (key.kty !== 'oct' && typeof key.d !== 'string')) {
      throw new ConfigError(`JWKS is invalid: key "${key.kid}" is not a private key`);
    }
  }
  return { keys: keys as Jwk[] };
}

export function generateSigningKey(): Jwk {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kty: 'RSA', kid: `rs-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`, alg: 'RS256', use: 'sig' } as Jwk;
}

const randomKey = (): string => randomBytes(32).toString('base64url');

function devKeyFile(config: Config): KeyMaterial {
  const file = join(config.DATA_DIR, 'dev-keys.json');
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<KeyMaterial>;
    if (!stored.jwks?.keys?.length || !stored.cookieKeys?.length || !stored.hmacKeys?.length) {
      throw new ConfigError(`DATA_DIR=${config.DATA_DIR}: dev-keys.json is incomplete; delete it to generate new development keys`);
    }
    // Files from before a key kind existed get it added once, keeping the others.
    if (stored.totpKeys?.length) return stored as KeyMaterial;
    const upgraded = { ...stored, totpKeys: [randomKey()] } as KeyMaterial;
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  const material: KeyMaterial = {
    jwks: { keys: [generateSigningKey()] },
    cookieKeys: [randomKey()],
    hmacKeys: [randomKey()],
    totpKeys: [randomKey()],
  };
  mkdirSync(config.DATA_DIR, { recursive: true });
  writeFileSync(file, JSON.stringify(material, null, 2), { mode: 0o600 });
  return material;
}

export function loadKeyMaterial(config: Config): KeyMaterial {
  const complete = config.JWKS && config.COOKIE_KEYS && config.HMAC_KEYS && config.TOTP_KEYS;
  const dev = complete ? undefined : devKeyFile(config);
  return {
    jwks: config.JWKS ? parseJwks(config.JWKS) : dev!.jwks,
    cookieKeys: config.COOKIE_KEYS ? [...config.COOKIE_KEYS] : dev!.cookieKeys,
    hmacKeys: config.HMAC_KEYS ? [...config.HMAC_KEYS] : dev!.hmacKeys,
    totpKeys: config.TOTP_KEYS ? [...config.TOTP_KEYS] : dev!.totpKeys,
  };
}
