/** CSPRNG secrets and keyed hashes shared by every flow. */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

const READABLE = 'abcdefghjkmnpqrstuvwxyz23456789'; // no 0/o, 1/l/i: read aloud and typed by hand

/** A temporary password: 4 groups of 5 readable characters (~99 bits). */
export function generateTemporaryPassword(): string {
  const groups: string[] = [];
  for (let g = 0; g < 4; g += 1) {
    let s = '';
    for (let i = 0; i < 5; i += 1) s += READABLE[randomInt(READABLE.length)];
    groups.push(s);
  }
  return groups.join('-');
}

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * An account id: 96 random bits that never start with "-" or "_", which command lines take
 * for an option (`rekey users view -x…`).
 */
export function accountId(): string {
  for (;;) {
    const id = randomId(12);
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

/** Keyed hashes with rotation: the first key writes; lookups may try every key. */
export class Hmac {
  constructor(private readonly keys: readonly string[]) {
    if (keys.length === 0) throw new Error('Hmac needs at least one key');
  }

  digest(purpose: string, value: string): string {
    return createHmac('sha256', this.keys[0]!).update(`${purpose}\0${value}`).digest('base64url');
  }

  /** The digest under every key, the writing key's first: for lookups by a part of it. */
  digestsUnderEveryKey(purpose: string, value: string): string[] {
    return this.keys.map((key) => createHmac('sha256', key).update(`${purpose}\0${value}`).digest('base64url'));
  }

  /** Constant-time check against every key, so codes made before a rotation still verify. */
  matches(purpose: string, value: string, expected: string): boolean {
    const want = Buffer.from(expected);
    let ok = false;
    for (const key of this.keys) {
      const got = Buffer.from(createHmac('sha256', key).update(`${purpose}\0${value}`).digest('base64url'));
      if (got.length === want.length && timingSafeEqual(got, want)) ok = true;
    }
    return ok;
  }
}

/** Constant-time string comparison for tokens the client sends back. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
