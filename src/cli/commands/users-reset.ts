/**
 * Password resets from the admin's side: `users reset` starts a self-service reset for a user
 * (the admin never sets or sees the password, nor the code), and `users resets` lists a user's
 * recent reset activity from the audit trail.
 *
 * An admin-started reset is an ordinary reset flow: the user gets an email at their primary
 * address with a link to `/reset/continue?flow=<id>` and a one-time code (the flow's secret),
 * valid for the flow's lifetime. The link only shows a form asking for the code; once it is
 * entered, every proof of the reset policy still applies.
 */
import type { Command } from 'commander';
import { formatDateTime, t } from '../../i18n/index.ts';
import { helpdeskRef, personalText } from '../../domain/notifications.ts';
import type { Services } from '../../services.ts';
import type { AccountRecord } from '../../store/types.ts';
import type { StoredAuditEvent } from '../../domain/audit.ts';
import type { ResetOutcome } from '../../domain/reset/reset-flows.ts';
import { maskEmail } from '../../domain/methods/mask.ts';
import { duration, iso, table, time } from '../format.ts';
import { CliError, out, withServices } from '../runtime.ts';

const CLI_CONTEXT = { ip: 'cli', userAgent: 'rekey-cli' } as const;
const DAY_MS = 24 * 3600 * 1000;
/** Audit entries scanned for `users resets` (newest first, within --days). */
const SCAN_LIMIT = 20_000;

/** Why a reset cannot be started for this account (an id for the audit trail, words for the admin); undefined when it can. */
function refusal(services: Services, a: AccountRecord): { reason: string; text: string } | undefined {
  const { policy } = services;
  if (!a.emails[0]?.address) {
    return { reason: 'no_email', text: `${a.login} has no email address: an admin-started reset is sent to the primary email. Add an address first, or use "rekey users temp-password ${a.login}".` };
  }
  if (a.status !== 'active') return { reason: 'account_disabled', text: `${a.login} is disabled; enable the account first ("rekey users enable ${a.login}").` };
  if (!policy.inScope(a)) {
    return {
      reason: 'not_in_scope',
      text: `${a.login} is not in SSPR scope (SSPR_SCOPE=${policy.options.scope}): a reset needs registered recovery methods to prove. Use "rekey users temp-password ${a.login}" instead.`,
    };
  }
  if (policy.usableMethods(a).length === 0) {
    return { reason: 'no_methods', text: `${a.login} has no usable recovery methods to prove a reset with. Use "rekey users invite ${a.login}" or "rekey users temp-password ${a.login}" instead.` };
  }
  return undefined;
}

function failureText(a: AccountRecord, outcome: Extract<ResetOutcome, { ok: false }>, services: Services): string {
  const retry = outcome.retryAfterSeconds ? ` Try again in about ${duration(Math.max(60, Math.ceil(outcome.retryAfterSeconds / 60) * 60))}.` : '';
  switch (outcome.error.id) {
    case 'reset_too_many_starts':
      return `too many resets were started from the CLI in the last hour (RESET_STARTS_PER_IP=${services.config.RESET_STARTS_PER_IP}).${retry}`;
    case 'reset_blocked':
      return `password reset is blocked for ${a.login} after too many failed proofs (RESET_BLOCK_HOURS=${services.config.RESET_BLOCK_HOURS}).${retry}`;
    default:
      return `the reset could not be started (${outcome.error.id}).`;
  }
}

function resetMail(services: Services, a: AccountRecord, link: string, code: string, expiresAt: number): { subject: string; text: string } {
  const { PRODUCT_NAME } = services.config;
  const vars = { product: PRODUCT_NAME, login: a.login, link, code, expires: formatDateTime(expiresAt), helpdesk: helpdeskRef(services.config) };
  return { subject: t('mail.admin_started_reset.subject', vars), text: personalText(a.name || a.login, t('mail.admin_started_reset.body', vars)) };
}

async function startReset(services: Services, user: string): Promise<void> {
  const a = await services.accounts.require(user);
  const why = refusal(services, a);
  if (why) {
    await services.audit.record({ type: 'admin.reset_started', outcome: 'failure', accountId: a.id, actor: 'cli', reason: why.reason });
    throw new CliError(why.text);
  }
  const to = a.emails[0]!.address;
  const started = await services.resets.start(a.login, CLI_CONTEXT);
  if (!started.outcome.ok) {
    await services.audit.record({ type: 'admin.reset_started', outcome: 'failure', accountId: a.id, actor: 'cli', ip: CLI_CONTEXT.ip, reason: started.outcome.error.id });
    throw new CliError(failureText(a, started.outcome, services));
  }
  const { expiresAt } = started.outcome.view;
  const link = `${services.config.ISSUER}/reset/continue?flow=${encodeURIComponent(started.handle)}`;
  try {
    await services.sender.send({ channel: 'email', to, ...resetMail(services, a, link, started.secret, expiresAt) });
  } catch (err) {
    // Nobody but the mail had the code: the flow can never be continued and expires by itself.
    await services.audit.record({ type: 'admin.reset_started', outcome: 'failure', accountId: a.id, actor: 'cli', ip: CLI_CONTEXT.ip, reason: 'delivery_failed', details: { to: maskEmail(to) } });
    throw new CliError(`the email to ${to} could not be sent, so no reset was started: ${(err as Error).message}`);
  }
  await services.audit.record({
    type: 'admin.reset_started',
    outcome: 'success',
    accountId: a.id,
    actor: 'cli',
    ip: CLI_CONTEXT.ip,
    details: { to: maskEmail(to), expiresAt: new Date(expiresAt).toISOString() },
  });
  const proofs = services.policy.requiredProofs(a);
  out(
    `Sent a password reset to ${a.login} at ${to}. It expires ${time(expiresAt)} (in ${duration(services.config.RESET_FLOW_TTL_MINUTES * 60)}, RESET_FLOW_TTL_MINUTES).`,
    `The code is only in the email. ${a.login} still proves ${proofs} registered method${proofs === 1 ? '' : 's'} and chooses the new password; you never see it.`,
  );
}

const isResetEvent = (e: StoredAuditEvent): boolean => e.type.startsWith('reset.') || e.type.startsWith('admin.reset');

async function listResets(services: Services, user: string, opts: { json?: boolean; days?: string }): Promise<void> {
  let days = 30;
  if (opts.days !== undefined) {
    if (!/^\d+$/.test(opts.days) || Number(opts.days) < 1) throw new CliError(`--days "${opts.days}" is invalid: a whole number of days, 1 or more`);
    days = Number(opts.days);
  }
  const a = await services.accounts.require(user);
  const since = services.clock() - days * DAY_MS;
  const events = (await services.audit.recent({ limit: SCAN_LIMIT, since })).filter((e) => e.accountId === a.id && isResetEvent(e));
  if (opts.json) {
    out(
      JSON.stringify(
        events.map((e) => ({
          at: iso(e.at),
          type: e.type,
          outcome: e.outcome,
          actor: e.actor ?? null,
          ip: e.ip ?? null,
          reason: e.reason ?? null,
          details: e.details ?? {},
        })),
        null,
        2,
      ),
    );
    return;
  }
  if (events.length === 0) {
    out(`No reset activity for ${a.login} in the last ${days} day${days === 1 ? '' : 's'}.`);
    return;
  }
  out(
    ...table(
      ['TIME', 'TYPE', 'OUTCOME', 'IP', 'REASON'],
      events.map((e) => [time(e.at), e.type, e.outcome, e.ip ?? '', e.reason ?? '']),
    ),
  );
}

export function registerReset(users: Command): void {
  const user = ['<user>', 'login, email or account id'] as const;
  users
    .command('reset')
    .summary('email a user a link and code to reset their password themselves')
    .description(
      'Start a self-service password reset for a user: they get an email at their primary address with a link and a one-time code, valid for RESET_FLOW_TTL_MINUTES. They still prove their registered methods and choose the new password; the admin never sets or sees it. Refused for accounts without an email address, disabled accounts and accounts with nothing to prove.',
    )
    .argument(...user)
    .addHelpText('after', '\nExamples:\n  rekey users reset alice\n  rekey users resets alice')
    .action(withServices(startReset));

  users
    .command('resets')
    .summary("list a user's recent password reset activity")
    .description("List a user's password reset activity from the audit trail, newest first: resets started (by them or an admin), failed proofs, completions.")
    .argument(...user)
    .option('--days <n>', 'how far back to look (default 30)')
    .option('--json', 'print a JSON array instead of a table')
    .action(withServices(listResets));
}
