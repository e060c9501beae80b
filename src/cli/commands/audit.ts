/**
 * `rekey audit`: the audit trail, filtered by user, type, outcome and time; a table (newest
 * first) for reading, JSON Lines (oldest first, every field) for exporting.
 */
import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import type { AuditOutcome, StoredAuditEvent } from '../../domain/audit.ts';
import { AUDIT_OUTCOMES, detailsText, findAuditEvents, isTypePattern, parseTime, type AuditFilter } from '../../domain/audit-query.ts';
import { table, time } from '../format.ts';
import { CliError, out, withServices } from '../runtime.ts';

interface AuditOptions {
  user?: string;
  type?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit: string;
  jsonl?: boolean;
}

const MAX_LIMIT = 1_000_000;
const TIME_HELP = 'an ISO date or time in UTC (2026-01-31, 2026-01-31T08:00, 2026-01-31T08:00+01:00) or an age (30m, 24h, 7d, 2w)';

/** Checks every option before anything is read; `error:` lines name the option and what is allowed. */
function filterFrom(opts: AuditOptions, now: number): Omit<AuditFilter, 'accountId'> {
  if (!/^\d{1,7}$/.test(opts.limit) || Number(opts.limit) < 1 || Number(opts.limit) > MAX_LIMIT) {
    throw new CliError(`--limit "${opts.limit}" is invalid: a whole number from 1 to ${MAX_LIMIT}`);
  }
  let types: string[] | undefined;
  if (opts.type !== undefined) {
    types = opts.type.split(',').map((s) => s.trim());
    const bad = types.find((p) => !isTypePattern(p));
    if (bad !== undefined) throw new CliError(`--type "${bad}" is invalid: an event type (signin.password) or a prefix with * (reset.*), several separated by commas`);
  }
  if (opts.outcome !== undefined && !(AUDIT_OUTCOMES as readonly string[]).includes(opts.outcome)) {
    throw new CliError(`--outcome "${opts.outcome}" is invalid: one of ${AUDIT_OUTCOMES.join(', ')}`);
  }
  const when = (name: 'since' | 'until', text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const at = parseTime(text, now, name === 'since' ? 'start' : 'end');
    if (at === undefined) throw new CliError(`--${name} "${text}" is invalid: ${TIME_HELP}`);
    return at;
  };
  const since = when('since', opts.since);
  const until = when('until', opts.until);
  if (since !== undefined && until !== undefined && since >= until) throw new CliError(`--since ${opts.since} is not before --until ${opts.until}`);
  return {
    limit: Number(opts.limit),
    ...(types ? { types } : {}),
    ...(opts.outcome !== undefined ? { outcome: opts.outcome as AuditOutcome } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
  };
}

/** One JSON object per event, every stored field, the time also as ISO text. */
function jsonLine(e: StoredAuditEvent): string {
  const { at, seq, type, outcome, ...rest } = e;
  return JSON.stringify({ time: new Date(at).toISOString(), at, seq, type, outcome, ...rest });
}

async function audit(services: Services, opts: AuditOptions): Promise<void> {
  const filter = filterFrom(opts, services.clock());
  const account = opts.user !== undefined ? await services.accounts.require(opts.user) : undefined;
  const events = await findAuditEvents(services.audit, { ...filter, ...(account ? { accountId: account.id } : {}) });
  if (opts.jsonl) {
    for (const e of [...events].reverse()) out(jsonLine(e));
    return;
  }
  if (events.length === 0) {
    out('No audit events match.');
    return;
  }
  const logins = new Map<string, string>();
  for (const id of new Set(events.map((e) => e.accountId).filter((id): id is string => !!id))) {
    logins.set(id, (await services.accounts.get(id))?.login ?? id);
  }
  out(
    ...table(
      ['TIME', 'TYPE', 'OUTCOME', 'ACCOUNT', 'ACTOR', 'IP', 'REASON', 'DETAILS'],
      events.map((e) => [time(e.at), e.type, e.outcome, e.accountId ? (logins.get(e.accountId) ?? e.accountId) : '', e.actor ?? '', e.ip ?? '', e.reason ?? '', detailsText(e.details)]),
    ),
    '',
    `${events.length} event${events.length === 1 ? '' : 's'}, newest first${events.length === filter.limit ? ` (--limit ${filter.limit} reached; older ones may match too)` : ''}.`,
  );
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .summary('show or export the audit trail')
    .description(
      'Show the audit trail (docs/audit-events.md), newest first: time, type, outcome, account, actor, client IP, reason and details. With --jsonl, export the matching events as JSON Lines, oldest first, with every field. Events are kept AUDIT_RETENTION_DAYS.',
    )
    .option('--user <user>', "only this account's events (login, email or account id)")
    .option('--type <type>', 'only events of this type, or of a prefix with * (e.g. reset.*); several separated by commas')
    .option('--outcome <outcome>', `only this outcome: ${AUDIT_OUTCOMES.join(', ')}`)
    .option('--since <time>', `only events at or after this time: ${TIME_HELP}`)
    .option('--until <time>', 'only events before this time (a date alone: until the end of that day)')
    .option('--limit <n>', 'at most this many events, the newest that match', '100')
    .option('--jsonl', 'print JSON Lines (one event per line, oldest first) instead of a table')
    .addHelpText(
      'after',
      '\nExamples:\n  rekey audit --since 24h\n  rekey audit --user alice --type \'reset.*\' --since 7d\n  rekey audit --type signin.password --outcome blocked\n  rekey audit --since 2026-01-01 --until 2026-01-31 --limit 100000 --jsonl > january.jsonl',
    )
    .action(withServices(audit));
}
