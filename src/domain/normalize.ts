/** Normalization of identifiers and secrets, so "Alice", "alice " and "ａｌｉｃｅ" are one login. */

export function normalizeLogin(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase();
}

export function normalizeEmail(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase();
}

/** Passwords keep case and inner spaces; NFKC makes the same password typed on two keyboards equal. */
export function normalizePassword(raw: string): string {
  return raw.normalize('NFKC');
}

/** Counts characters, not UTF-16 units, so an emoji is one character. */
export function charLength(s: string): number {
  return [...s].length;
}

const LOGIN = /^[a-z0-9][a-z0-9._@+-]{0,63}$/;
// Deliberately simple: the real proof of an address is the code sent to it.
const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]{2,}$/;

export function isValidLogin(normalized: string): boolean {
  return LOGIN.test(normalized);
}

export function isValidEmail(normalized: string): boolean {
  return normalized.length <= 254 && EMAIL.test(normalized);
}
