/**
 * `rekey report [--days N] [--json]`: registration coverage and the last N days of resets,
 * sign-ins, throttles and lockouts (src/domain/report.ts), as aligned text or as the JSON
 * object the admin dashboard renders too.
 */
import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import { buildReport, type ReasonCount, type Report } from '../../domain/report.ts';
import { clean, time } from '../format.ts';
import { CliError, out, withServices } from '../runtime.ts';

const MAX_DAYS = 3650;

const pct = (n: number): string => `${n.toFixed(1)}%`;

/** Columns: the first left-aligned, the others right-aligned (figures). */
function grid(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('   ')
        .trimEnd(),
  );
}

function reasonRows(list: ReasonCount[]): string[][] {
  return list.map((r) => [`  ${clean(r.reason)}`, String(r.count), '']);
}

export function reportText(r: Report): string[] {
  const p = r.policy;
  const scope = p.scope === 'groups' ? `groups (${p.groups.join(', ') || 'none listed'})` : p.scope;
  const reg = r.registration;
  const res = r.resets;
  const s = r.signins;
  const lines: string[] = [
    `Registration and usage report: the last ${r.period.days} day${r.period.days === 1 ? '' : 's'} (${r.period.since.slice(0, 10)} to ${r.period.until.slice(0, 10)}, UTC)`,
    `Generated ${time(Date.parse(r.generatedAt))}. Policy: SSPR_SCOPE=${scope}, ${p.methodsRequired} method${p.methodsRequired === 1 ? '' : 's'} required (admins ${p.adminMethodsRequired}), re-confirmation ${p.reconfirmDays ? `every ${p.reconfirmDays} days` : 'off'}, TWO_FACTOR=${p.twoFactor}.`,
  ];
  if (!r.period.complete) lines.push(`Note: the audit trail keeps ${r.period.auditRetentionDays} days (AUDIT_RETENTION_DAYS); activity before that is gone.`);
  lines.push(
    '',
    'Registration (accounts as they are now)',
    ...grid([
      ['Users', String(reg.users), ''],
      ['Active', String(reg.active), ''],
      ['Disabled', String(reg.disabled), ''],
      ['In SSPR scope (active)', String(reg.inScope), ''],
      ['Registered', String(reg.registered), pct(reg.registeredPercent)],
      ['Partially registered', String(reg.partial), pct(reg.partialPercent)],
      ['Not registered', String(reg.none), pct(reg.nonePercent)],
      ['Re-confirmation overdue', String(reg.reconfirmOverdue), ''],
      ['Second-factor capable (of active)', String(reg.secondFactorCapable), pct(reg.secondFactorCapablePercent)],
    ]),
    '',
    ...grid([['Method', 'Users', 'Of in scope'], ...reg.byMethod.map((m) => [`${m.kind}${m.enabled ? '' : ' (not offered)'}`, String(m.users), pct(m.percent)])]),
    '',
    'Password resets',
    ...grid([
      ['Started', String(res.started), ''],
      ['Completed (of started)', String(res.completed), pct(res.completedPercent)],
      ['Started for unknown identifiers (decoys)', String(res.decoyStarts), ''],
      ['Starts refused', String(res.startsRefused.reduce((n, x) => n + x.count, 0)), ''],
      ...reasonRows(res.startsRefused),
      ['Proofs succeeded', String(res.proofsSucceeded), ''],
      ['Proofs failed', String(res.proofsFailed), ''],
      ...reasonRows(res.failuresByReason),
      ['Failed proofs in decoy flows', String(res.decoyProofsFailed), ''],
      ['Blocked (too many failed proofs)', String(res.blocked), ''],
    ]),
    '',
    ...grid([
      ['Method', 'Proofs ok', 'Proofs failed', 'In completed resets'],
      ...res.byMethod.map((m) => [m.kind, String(m.proofsSucceeded), String(m.proofsFailed), String(m.completedResets)]),
    ]),
    '',
    'Sign-ins',
    ...grid([
      ['Completed', String(s.completed), ''],
      ['  with a second factor', String(s.completedWithMfa), pct(s.completed ? (s.completedWithMfa / s.completed) * 100 : 0)],
      ['  on a remembered device', String(s.rememberedDevice), ''],
      ['Passwords accepted', String(s.password.succeeded), ''],
      ['Passwords refused', String(s.password.failed), ''],
      ['Passwords blocked', String(s.password.blocked), ''],
      ...reasonRows(s.passwordFailuresByReason),
      ['Second factors accepted', String(s.secondFactor.succeeded), ''],
      ['Second factors refused', String(s.secondFactor.failed), ''],
      ['Second factors blocked', String(s.secondFactor.blocked), ''],
      ['Ended without sign-in', String(s.notCompleted.reduce((n, x) => n + x.count, 0)), ''],
      ...reasonRows(s.notCompleted),
    ]),
    '',
    'Throttles and refusals by a limit',
    ...(r.throttles.byReason.length === 0
      ? ['  none']
      : grid([['Event', 'Reason', 'Count'], ...r.throttles.byReason.map((t) => [t.type, t.reason, String(t.count)]), ['Total', '', String(r.throttles.total)]])),
    '',
    'Lockouts',
    ...grid([
      ['Soft (timed)', String(r.lockouts.soft)],
      ['Hard (until an admin unlocks)', String(r.lockouts.hard)],
      ['  of unknown identifiers', String(r.lockouts.unknownIdentifiers)],
    ]),
    '',
    'Admin',
    ...grid([
      ['Resets started from the CLI', String(r.admin.cliResetsStarted)],
      ['CLI resets refused or undelivered', String(r.admin.cliResetsFailed)],
      ['Completed resets of admin accounts', String(r.admin.adminAccountResets)],
    ]),
    '',
    'Per day',
    ...grid([
      ['Date', 'Resets started', 'Resets completed', 'Sign-ins', 'Failed sign-in attempts'],
      ...r.daily.map((d) => [d.date, String(d.resetsStarted), String(d.resetsCompleted), String(d.signinsSucceeded), String(d.signinsFailed)]),
    ]),
  );
  return lines;
}

async function report(services: Services, opts: { days: string; json?: boolean }): Promise<void> {
  if (!/^\d{1,5}$/.test(opts.days) || Number(opts.days) < 1 || Number(opts.days) > MAX_DAYS) {
    throw new CliError(`--days "${opts.days}" is invalid: a whole number of days from 1 to ${MAX_DAYS}`);
  }
  const r = await buildReport(services, { days: Number(opts.days), now: services.clock() });
  if (opts.json) out(JSON.stringify(r, null, 2));
  else out(...reportText(r));
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .summary('registration coverage and the last N days of resets, sign-ins, throttles and lockouts')
    .description(
      'Registration coverage (users in SSPR scope, registered, partially, not at all, by method, re-confirmation overdue, second-factor capable) and, from the audit trail, the last N UTC days (today included) of password resets by method and outcome, sign-ins, throttles, lockouts and admin resets, with a per-day series. --json prints the object the admin dashboard shows.',
    )
    .option('--days <n>', 'how many days of activity (default 30; the audit trail keeps AUDIT_RETENTION_DAYS)', '30')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  rekey report\n  rekey report --days 7 --json > report.json')
    .action(withServices(report));
}
