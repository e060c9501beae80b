/**
 * Seals small secrets (TOTP keys) with AES-256-GCM under rotatable keys. The first key seals;
 * every key opens what it sealed, so a new key can be put first and old records re-sealed
 * as they are used (`needsResealing`).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { SealedSecret } from './methods/types.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const MIN_KEY_CHARS = 32;
const INFO = 'rekey secret-box v1';

interface BoxKey {
  kid: string;
  key: Buffer;
}

/** First 8 hex characters of SHA-256 of the configured key string. */
export function keyId(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}

export class SecretBox {
  private readonly keys: BoxKey[] = [];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    const seen = new Map<string, string>();
    for (const secret of keys) {
      if (secret.length < MIN_KEY_CHARS) throw new Error(`SecretBox keys must be at least ${MIN_KEY_CHARS} characters`);
      const kid = keyId(secret);
      const earlier = seen.get(kid);
      if (earlier !== undefined) {
        if (earlier === secret) continue; // the same key listed twice
        throw new Error(`SecretBox keys ${kid} collide; use another key`);
      }
      seen.set(kid, secret);
      // HKDF, not a bare SHA-256: the kid is a SHA-256 prefix of the key string and must not
      // be a prefix of the AES key.
      const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), INFO, 32));
      this.keys.push({ kid, key });
    }
  }

  seal(plaintext: string): SealedSecret {
    const { kid, key } = this.keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(kid));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { kid, iv: iv.toString('base64url'), ct: ct.toString('base64url'), tag: cipher.getAuthTag().toString('base64url') };
  }

  /** Throws when the key is unknown (rotated out) or the sealed value was altered. */
  open(sealed: SealedSecret): string {
    if (!isSealed(sealed)) throw new Error('SecretBox: not a sealed secret');
    const entry = this.keys.find((k) => k.kid === sealed.kid);
    if (!entry) throw new Error(`SecretBox: unknown key ${sealed.kid}`);
    const iv = Buffer.from(sealed.iv, 'base64url');
    const tag = Buffer.from(sealed.tag, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('SecretBox: malformed sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', entry.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(sealed.kid));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('SecretBox: sealed secret was tampered with or the key is wrong');
    }
  }

  /** True when not sealed with the current (first) key: open and seal again. */
  needsResealing(sealed: SealedSecret): boolean {
    return sealed.kid !== this.keys[0]!.kid;
  }
}

/** Shape check for values read back from storage or flow state. */
export function isSealed(value: unknown): value is SealedSecret {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.kid === 'string' && typeof v.iv === 'string' && typeof v.ct === 'string' && typeof v.tag === 'string';
}
