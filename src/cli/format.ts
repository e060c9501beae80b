/** Plain-text and JSON views of accounts. Views list fields explicitly: hashes never leak. */
import type { AccountRecord } from '../store/types.ts';

/** Control characters (e.g. terminal escapes in a name) are shown escaped, not executed. */
export function clean(s: string): string {
  return s.replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function time(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function iso(ms: number | undefined): string | null {
  return ms === undefined || ms === 0 ? null : new Date(ms).toISOString();
}

/** "72 hours", "5 minutes", "30 seconds". */
export function duration(seconds: number): string {
  const unit = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  if (seconds >= 3600 && seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds >= 60 && seconds % 60 === 0) return unit(seconds / 60, 'minute');
  return unit(seconds, 'second');
}

export function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}

/** A left-aligned table with a header row; empty cells show "-". */
export function table(header: string[], rows: string[][]): string[] {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === '' ? '-' : clean(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  return cells.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - [...c].length)))
      .join('  ')
      .trimEnd(),
  );
}

/** The fields of an account that are safe to show, as JSON. */
export function accountJson(a: AccountRecord): Record<string, unknown> {
  return {
    id: a.id,
    login: a.login,
    name: a.name,
    emails: a.emails.map((e) => ({ address: e.address, verified: e.verified })),
    groups: [...a.groups],
    admin: a.admin,
    status: a.status,
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

/** Describes the password state in words, e.g. "temporary, expires 2026-01-01 10:00:00 UTC". */
export function passwordText(a: AccountRecord, now: number): string {
  if (!a.passwordHash) return 'not set';
  const parts = [a.passwordExpiresAt !== undefined ? 'temporary' : 'set'];
  if (a.passwordExpiresAt !== undefined) {
    parts.push(`${a.passwordExpiresAt <= now ? 'expired' : 'expires'} ${time(a.passwordExpiresAt)}`);
  }
  if (a.mustChangePassword) parts.push('must be changed at the next sign-in');
  return parts.join(', ');
}
