/**
 * Registration of recovery methods, from the admin's side: `users methods`, `users
 * require-registration`, `users tap`, `users unregistered` and `users invite`. Methods are
 * shown masked; passes and invitation codes never land in the audit trail, and an invitation
 * code is never printed (it goes to the user's mailbox only).
 */
import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import type { AccountRecord } from '../../store/types.ts';
import { methodsOf } from '../../domain/policy.ts';
import { Invitations } from '../../domain/invitations.ts';
import { METHOD_KINDS, type MethodKind, type MethodRecord } from '../../domain/methods/types.ts';
import { duration, iso, table, time, yesNo } from '../format.ts';
import { CliError, out, withServices } from '../runtime.ts';

const PAGE = 100;

const LABELS: Record<MethodKind, string> = {
  email: 'Email',
  mobile_phone: 'Mobile phone',
  office_phone: 'Office phone',
  authenticator_app: 'Authenticator app',
  security_questions: 'Security questions',
  recovery_codes: 'Recovery codes',
  security_key: 'Security key',
};

const isKind = (k: unknown): k is MethodKind => typeof k === 'string' && (METHOD_KINDS as readonly string[]).includes(k);

interface MethodView {
  id: string;
  kind: string;
  /** Masked destination, or a plain label when the kind is not enabled (or not masked). */
  destination: string;
  /** Counts under the current policy. */
  usable: boolean;
  registeredAt: number | undefined;
  confirmedAt: number | undefined;
  lastUsedAt: number | undefined;
}

function viewMethods(services: Services, account: AccountRecord): MethodView[] {
  const usable = new Set(services.policy.usableMethods(account));
  return methodsOf(account).map((m) => {
    const method = isKind(m.kind) ? services.methods.get(m.kind) : undefined;
    let destination = isKind(m.kind) ? LABELS[m.kind] : String(m.kind);
    if (method) {
      try {
        destination = method.mask(m);
      } catch {
        // a malformed record still gets listed, by its label
      }
    }
    if (!method) destination += ' (not enabled)';
    return {
      id: typeof m.id === 'string' ? m.id : '',
      kind: String(m.kind),
      destination,
      usable: usable.has(m),
      registeredAt: typeof m.registeredAt === 'number' ? m.registeredAt : undefined,
      confirmedAt: typeof m.confirmedAt === 'number' ? m.confirmedAt : undefined,
      lastUsedAt: typeof m.lastUsedAt === 'number' ? m.lastUsedAt : undefined,
    };
  });
}

async function methods(services: Services, user: string, opts: { json?: boolean }): Promise<void> {
  const a = await services.accounts.require(user);
  const { policy } = services;
  const now = services.clock();
  const views = viewMethods(services, a);
  const inScope = policy.inScope(a);
  const required = policy.requiredMethods(a);
  const usable = views.filter((v) => v.usable).length;
  const registrationDue = policy.needsRegistration(a);
  const reconfirmDue = policy.reconfirmDue(a, now);
  if (opts.json) {
    out(
      JSON.stringify(
        {
          id: a.id,
          login: a.login,
          inScope,
          required,
          usable,
          registrationDue,
          reconfirmDue,
          bootstrapProvenAt: iso(a.bootstrapProvenAt),
          registrationPostponed: a.registrationPostponed ?? 0,
          methods: views.map((v) => ({
            id: v.id,
            kind: v.kind,
            destination: v.destination,
            usable: v.usable,
            registeredAt: iso(v.registeredAt),
            confirmedAt: iso(v.confirmedAt),
            lastUsedAt: iso(v.lastUsedAt),
          })),
        },
        null,
        2,
      ),
    );
    return;
  }
  const scope = inScope ? 'yes' : `no (SSPR_SCOPE=${policy.options.scope})`;
  const fields: [string, string][] = [
    ['login', a.login],
    ['in SSPR scope', scope],
    ['required', `${required} method${required === 1 ? '' : 's'}${a.admin ? ' (admin)' : ''}`],
    ['registered', `${views.length} (${usable} counting under the current policy)`],
    ['registration due', yesNo(registrationDue)],
    ['re-confirmation due', yesNo(reconfirmDue)],
    ['bootstrap proven', a.bootstrapProvenAt !== undefined ? time(a.bootstrapProvenAt) : '-'],
    ['postponed', String(a.registrationPostponed ?? 0)],
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  out(...fields.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`));
  if (views.length === 0) {
    out('', 'No recovery methods registered.');
    return;
  }
  const stamp = (ms: number | undefined): string => (ms === undefined ? '' : time(ms));
  out('', ...table(['KIND', 'DESTINATION', 'REGISTERED', 'CONFIRMED', 'COUNTS'], views.map((v) => [v.kind, v.destination, stamp(v.registeredAt), stamp(v.confirmedAt), yesNo(v.usable)])));
}

async function requireRegistration(services: Services, user: string): Promise<void> {
  const a = await services.accounts.require(user);
  const removed = methodsOf(a).length;
  const updated = await services.accounts.update(a.id, (acc) => {
    const next: AccountRecord = { ...acc, methods: [] };
    // Remembered devices stood for the removed methods: they go too.
    delete next.devices;
    delete next.bootstrapProvenAt;
    delete next.registrationPostponed;
    return next;
  });
  await services.audit.record({ type: 'admin.registration_required', outcome: 'success', accountId: a.id, actor: 'cli', details: { removed } });
  out(`Removed ${removed} recovery method${removed === 1 ? '' : 's'} of ${updated.login}: they must register again, with a bootstrap proof, at the next sign-in.`);
  if (!services.policy.inScope(updated)) out(`Note: ${updated.login} is not in SSPR scope (SSPR_SCOPE=${services.policy.options.scope}), so nothing asks them to register.`);
}

async function tap(services: Services, user: string, opts: { hours?: string }): Promise<void> {
  const max = services.config.TAP_TTL_HOURS;
  let hours = max;
  if (opts.hours !== undefined) {
    if (!/^\d+$/.test(opts.hours) || Number(opts.hours) < 1) throw new CliError(`--hours "${opts.hours}" is invalid: a whole number of hours from 1 to ${max}`);
    hours = Number(opts.hours);
    if (hours > max) throw new CliError(`--hours ${hours} is too long: a temporary access pass lives at most ${max} hours (TAP_TTL_HOURS)`);
  }
  const a = await services.accounts.require(user);
  const { pass, expiresAt } = await services.accessPasses.issue(a.id, hours * 3600 * 1000);
  await services.audit.record({ type: 'admin.tap_issued', outcome: 'success', accountId: a.id, actor: 'cli', details: { hours, expiresAt: new Date(expiresAt).toISOString() } });
  out(
    `Temporary access pass: ${pass}`,
    `It is shown only this once. It works once, for the first registration of ${a.login}'s recovery methods, until ${time(expiresAt)} (in ${duration(hours * 3600)}). A new pass replaces any earlier one.`,
  );
  if (methodsOf(a).length > 0) out(`Note: ${a.login} already has recovery methods; a pass is only asked for at a first registration (see "rekey users require-registration").`);
  if (a.status === 'disabled') out(`Note: ${a.login} is disabled; run "rekey users enable ${a.login}" too.`);
}

async function unregistered(services: Services, opts: { json?: boolean }): Promise<void> {
  const { policy } = services;
  const found: AccountRecord[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await services.store.accounts.list({ offset, limit: PAGE });
    for (const a of page) if (policy.inScope(a) && policy.needsRegistration(a)) found.push(a);
    if (page.length < PAGE) break;
  }
  const row = (a: AccountRecord) => ({
    usable: policy.usableMethods(a).length,
    required: policy.requiredMethods(a),
  });
  if (opts.json) {
    out(
      JSON.stringify(
        found.map((a) => ({
          id: a.id,
          login: a.login,
          email: a.emails[0]?.address ?? null,
          status: a.status,
          ...row(a),
          registrationPostponed: a.registrationPostponed ?? 0,
        })),
        null,
        2,
      ),
    );
    return;
  }
  if (policy.options.scope === 'none') {
    out('Nobody is in SSPR scope (SSPR_SCOPE=none).');
    return;
  }
  if (found.length === 0) {
    out('Every user in SSPR scope has registered enough recovery methods.');
    return;
  }
  out(
    ...table(
      ['LOGIN', 'EMAIL', 'METHODS', 'POSTPONED', 'STATUS'],
      found.map((a) => {
        const { usable, required } = row(a);
        return [a.login, a.emails[0]?.address ?? '', `${usable}/${required}`, String(a.registrationPostponed ?? 0), a.status];
      }),
    ),
    '',
    `${found.length} user${found.length === 1 ? '' : 's'} in scope still need${found.length === 1 ? 's' : ''} to register.`,
  );
}

async function invite(services: Services, user: string): Promise<void> {
  const a = await services.accounts.require(user);
  const { to, expiresAt } = await new Invitations(services).issue(a, { actor: 'cli' });
  out(
    `Sent an invitation to ${a.login} at ${to}. It expires ${time(expiresAt)} (in ${duration(services.config.INVITE_TTL_HOURS * 3600)}, INVITE_TTL_HOURS).`,
    'The code is only in the email; a new invitation replaces this one.',
  );
}

export function registerSecurity(users: Command): void {
  const user = ['<user>', 'login, email or account id'] as const;
  users
    .command('methods')
    .summary("show a user's recovery methods and registration state")
    .description(
      'Show whether a user is in SSPR scope, which recovery methods they registered (masked) and when, how many policy requires, and whether registration or re-confirmation is due. Never shows secrets.',
    )
    .argument(...user)
    .option('--json', 'print JSON instead of text')
    .action(withServices(methods));

  users
    .command('require-registration')
    .summary('remove every recovery method: register again at the next sign-in')
    .description(
      'Remove every registered recovery method of a user (and the earlier bootstrap proof, "not now" count and remembered devices), so they must register again, with a bootstrap proof, at the next sign-in.',
    )
    .argument(...user)
    .action(withServices(requireRegistration));

  users
    .command('tap')
    .summary('issue a temporary access pass, printed once')
    .description(
      'Issue a temporary access pass for the first registration of a user (the bootstrap proof when no email code can be used). It is printed once, works once and expires after --hours (default and maximum TAP_TTL_HOURS).',
    )
    .argument(...user)
    .option('--hours <n>', 'lifetime in hours (default and maximum: TAP_TTL_HOURS)')
    .addHelpText('after', '\nExamples:\n  rekey users tap alice\n  rekey users tap alice --hours 2')
    .action(withServices(tap));

  users
    .command('unregistered')
    .summary('list users in scope who still need to register')
    .description('List the users in SSPR scope who have registered fewer recovery methods than policy requires.')
    .option('--json', 'print a JSON array instead of a table')
    .action(withServices(unregistered));

  users
    .command('invite')
    .summary('email a user an invitation to set their password')
    .description(
      'Email a user (at their primary address) a single-use invitation code and a link to the invitation page, where they set their password. The accepted invitation verifies the address and counts as the bootstrap proof of their first registration. The code is never printed; it expires after INVITE_TTL_HOURS, and a new invitation replaces the old one.',
    )
    .argument(...user)
    .action(withServices(invite));
}
