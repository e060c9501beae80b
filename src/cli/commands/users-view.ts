/** `users list` and `users show`. */
import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import type { AccountRecord } from '../../store/types.ts';
import { accountJson, clean, iso, passwordText, table, time, yesNo } from '../format.ts';
import { out, withServices } from '../runtime.ts';

const PAGE = 100;

async function allAccounts(services: Services): Promise<AccountRecord[]> {
  const all: AccountRecord[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await services.store.accounts.list({ offset, limit: PAGE });
    all.push(...page);
    if (page.length < PAGE) return all;
  }
}

async function list(services: Services, opts: { json?: boolean }): Promise<void> {
  const accounts = await allAccounts(services);
  if (opts.json) {
    out(JSON.stringify(accounts.map(accountJson), null, 2));
    return;
  }
  if (accounts.length === 0) {
    out('No users.');
    return;
  }
  const rows = accounts.map((a) => [
    a.login,
    a.emails.length > 1 ? `${a.emails[0]!.address} (+${a.emails.length - 1})` : (a.emails[0]?.address ?? ''),
    a.name,
    a.groups.join(','),
    yesNo(a.admin),
    a.status,
  ]);
  out(...table(['LOGIN', 'EMAIL', 'NAME', 'GROUPS', 'ADMIN', 'STATUS'], rows));
}

async function show(services: Services, user: string, opts: { json?: boolean }): Promise<void> {
  const a = await services.accounts.require(user);
  const now = services.clock();
  const [failures, lock, sessions] = await Promise.all([
    services.accounts.failures(a.id),
    services.accounts.lockState(a.id),
    services.store.oidc.countByAccount('Session', a.id),
  ]);
  if (opts.json) {
    const view = {
      ...accountJson(a),
      password: {
        set: a.passwordHash !== undefined,
        temporary: a.passwordExpiresAt !== undefined,
        expiresAt: iso(a.passwordExpiresAt),
        mustChange: a.mustChangePassword,
      },
      signIn: {
        failures,
        locked: lock.locked,
        lockedUntilAdminUnlock: lock.locked && lock.hard,
        retryAfterSeconds: lock.locked ? (lock.retryAfterSeconds ?? null) : null,
      },
      sessions,
      methods: a.methods.length,
      signedOutBefore: iso(a.notBefore),
    };
    out(JSON.stringify(view, null, 2));
    return;
  }
  const locked = !lock.locked
    ? 'no'
    : lock.hard
      ? 'yes, until an admin unlocks it'
      : `yes, for ${lock.retryAfterSeconds ?? 0} more seconds`;
  const emails = a.emails.map((e) => `${e.address}${e.verified ? '' : ' (unverified)'}`).join(', ');
  const fields: [string, string][] = [
    ['login', a.login],
    ['id', a.id],
    ['name', a.name],
    ['emails', emails || '-'],
    ['groups', a.groups.join(', ') || '-'],
    ['admin', yesNo(a.admin)],
    ['status', a.status],
    ['password', passwordText(a, now)],
    ['failed sign-ins', String(failures)],
    ['locked', locked],
    ['live sessions', String(sessions)],
    ['recovery methods', String(a.methods.length)],
    ['signed out before', a.notBefore ? time(a.notBefore) : '-'],
    ['created', time(a.createdAt)],
    ['updated', time(a.updatedAt)],
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 1;
  out(...fields.map(([k, v]) => `${`${k}:`.padEnd(width)} ${clean(v)}`));
}

export function registerView(users: Command): void {
  users
    .command('list')
    .summary('list every user')
    .description('List every user: login, email, name, groups, admin flag and status.')
    .option('--json', 'print a JSON array instead of a table')
    .action(withServices(list));

  users
    .command('show')
    .summary('show one user in detail')
    .description(
      'Show one user: status, groups, admin flag, password state, failed sign-ins and lock, live sessions, and times. Never shows password hashes.',
    )
    .argument('<user>', 'login, email or account id')
    .option('--json', 'print JSON instead of text')
    .action(withServices(show));
}
