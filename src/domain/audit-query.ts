/**
 * Reading the audit trail back: filters (account, type or type prefix, outcome, time range),
 * the times admins type (ISO dates and times, or ages like `7d`), and a one-line form of an
 * event's details. `rekey audit` and the admin dashboard share them.
 *
 *   findAuditEvents(audit, { type: 'reset.*', outcome: 'failure', since: parseTime('7d', now, 'start'), limit: 100 })
 */
import type { Audit, AuditOutcome, StoredAuditEvent } from './audit.ts';

export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'blocked'];

export interface AuditFilter {
  accountId?: string;
  /** Type patterns, any of which may match: an exact type (`signin.password`) or a prefix ending in `*` (`reset.*`, `admin*`). */
  types?: readonly string[];
  outcome?: AuditOutcome;
  /** `at >= since`. */
  since?: number;
  /** `at < until`. */
  until?: number;
  /** At most this many events: the newest that match. */
  limit: number;
}

const TYPE_PATTERN = /^(?:\*|[a-z0-9_]+(?:\.[a-z0-9_]+)*(?:\.?\*)?)$/;

/** Is `pattern` an exact type or a prefix with `*`? */
export function isTypePattern(pattern: string): boolean {
  return TYPE_PATTERN.test(pattern);
}

export function typeMatches(pattern: string, type: string): boolean {
  return pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern;
}

export function matches(filter: Omit<AuditFilter, 'limit'>, e: StoredAuditEvent): boolean {
  if (filter.accountId !== undefined && e.accountId !== filter.accountId) return false;
  if (filter.outcome !== undefined && e.outcome !== filter.outcome) return false;
  if (filter.types && filter.types.length > 0 && !filter.types.some((p) => typeMatches(p, e.type))) return false;
  return true;
}

/** The newest `limit` events matching the filter, newest first. */
export async function findAuditEvents(audit: Audit, filter: AuditFilter): Promise<StoredAuditEvent[]> {
  const found: StoredAuditEvent[] = [];
  if (filter.limit <= 0) return found;
  const bounds = { ...(filter.since !== undefined ? { since: filter.since } : {}), ...(filter.until !== undefined ? { until: filter.until } : {}) };
  for await (const e of audit.scan(bounds)) {
    if (!matches(filter, e)) continue;
    found.push(e);
    if (found.length >= filter.limit) break;
  }
  return found;
}

const DAY_MS = 24 * 3600 * 1000;
const AGE_UNITS: Record<string, number> = { m: 60_000, h: 3600_000, d: DAY_MS, w: 7 * DAY_MS };
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A time as admins type it, in ms: an age before `now` (`30m`, `24h`, `7d`, `2w`), an ISO date
 * (UTC; the whole day: its start for `edge: 'start'`, the next day's start for `edge: 'end'`) or
 * an ISO date and time (UTC unless it has a zone). Undefined when it is none of these.
 */
export function parseTime(text: string, now: number, edge: 'start' | 'end'): number | undefined {
  const s = text.trim();
  const age = /^(\d{1,6})([mhdw])$/.exec(s);
  if (age) return now - Number(age[1]) * AGE_UNITS[age[2]!]!;
  const m = ISO.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, ms, zone] = m;
  const day = Date.UTC(Number(y), Number(mo) - 1, Number(d));
  const check = new Date(day);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)) return undefined;
  if (h === undefined) return edge === 'end' ? day + DAY_MS : day;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec ?? 0) > 59) return undefined;
  const local = day + ((Number(h) * 60 + Number(mi)) * 60 + Number(sec ?? 0)) * 1000 + Number((ms ?? '0').padEnd(3, '0'));
  if (!zone || zone === 'Z') return local;
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  const offset = (Number(z[2]) * 60 + Number(z[3])) * 60_000;
  return z[1] === '+' ? local - offset : local + offset;
}

/** Details as one line: `kind=email channel=email purpose=reset` (values with spaces quoted). */
export function detailsText(details: StoredAuditEvent['details']): string {
  return Object.entries(details ?? {})
    .map(([k, v]) => `${k}=${typeof v === 'string' && /[\s"]/.test(v) ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}
