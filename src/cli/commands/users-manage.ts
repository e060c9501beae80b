/** Commands that change one account: disable, enable, unlock, groups, admin, sign-out. */
import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import { time } from '../format.ts';
import { CliError, out, withServices } from '../runtime.ts';

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

async function setStatus(services: Services, user: string, status: 'active' | 'disabled'): Promise<void> {
  const a = await services.accounts.require(user);
  if (a.status === status) {
    out(`${a.login} is already ${status === 'active' ? 'enabled' : 'disabled'}.`);
    return;
  }
  await services.accounts.setStatus(a.id, status);
  await services.audit.record({ type: status === 'disabled' ? 'admin.user.disabled' : 'admin.user.enabled', outcome: 'success', accountId: a.id, actor: 'cli' });
  out(status === 'disabled' ? `Disabled ${a.login}: they cannot sign in, and every session was ended.` : `Enabled ${a.login}.`);
}

async function unlock(services: Services, user: string): Promise<void> {
  const a = await services.accounts.require(user);
  const [failures, lock] = await Promise.all([services.accounts.failures(a.id), services.accounts.lockState(a.id)]);
  await services.accounts.unlock(a.id);
  await services.audit.record({ type: 'admin.user.unlocked', outcome: 'success', accountId: a.id, actor: 'cli', details: { failures, locked: lock.locked, ...(lock.locked ? { lock: lock.hard ? 'hard' : 'soft' } : {}) } });
  if (failures === 0 && !lock.locked) {
    out(`${a.login} was not locked and had no failed sign-ins.`);
    return;
  }
  out(`Unlocked ${a.login}: cleared ${plural(failures, 'failed sign-in')}${lock.locked ? '' : ' (it was not locked)'}.`);
}

async function groups(services: Services, user: string, names: string[], opts: { clear?: boolean }): Promise<void> {
  if (opts.clear && names.length > 0) throw new CliError('give groups or --clear, not both');
  if (!opts.clear && names.length === 0) throw new CliError('give at least one group, or --clear to remove every group');
  const a = await services.accounts.require(user);
  const updated = await services.accounts.setGroups(a.id, opts.clear ? [] : names);
  await services.audit.record({ type: 'admin.user.updated', outcome: 'success', accountId: a.id, actor: 'cli', details: { field: 'groups', before: a.groups.join(','), after: updated.groups.join(',') } });
  out(`${updated.login} groups: ${updated.groups.join(', ') || '(none)'}`);
}

async function admin(services: Services, user: string, opts: { on?: boolean; off?: boolean }): Promise<void> {
  if (opts.on === opts.off) throw new CliError('give exactly one of --on or --off');
  const on = opts.on === true;
  const a = await services.accounts.require(user);
  if (a.admin === on) {
    out(`${a.login} is already ${on ? 'an admin' : 'not an admin'}.`);
    return;
  }
  await services.accounts.setAdmin(a.id, on);
  await services.audit.record({ type: 'admin.user.updated', outcome: 'success', accountId: a.id, actor: 'cli', details: { field: 'admin', before: a.admin, after: on } });
  out(on ? `${a.login} is now an admin.` : `${a.login} is no longer an admin.`);
}

async function signOut(services: Services, user: string): Promise<void> {
  const a = await services.accounts.require(user);
  const [sessions, grants] = await Promise.all([
    services.store.oidc.countByAccount('Session', a.id),
    services.store.oidc.countByAccount('Grant', a.id),
  ]);
  const removed = await services.accounts.signOutEverywhere(a.id);
  await services.audit.record({ type: 'admin.user.signed_out', outcome: 'success', accountId: a.id, actor: 'cli', details: { removed } });
  const after = await services.accounts.require(a.id);
  const other = Math.max(0, removed - sessions - grants);
  out(
    `Signed ${a.login} out everywhere: ${removed} removed (${plural(sessions, 'session')}, ${plural(grants, 'grant')}, ${plural(other, 'token or code', 'tokens and codes')}).`,
    `Anything issued before ${time(after.notBefore)} is refused from now on.`,
  );
}

/** Signs every account out everywhere; refuses without --yes. One audit event for the lot. */
async function signOutAll(services: Services): Promise<void> {
  let accounts = 0;
  let sessions = 0;
  let removed = 0;
  const PAGE = 500;
  const ids: string[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await services.store.accounts.list({ offset, limit: PAGE });
    for (const a of page) ids.push(a.id);
    if (page.length < PAGE) break;
  }
  for (const id of ids) {
    sessions += await services.store.oidc.countByAccount('Session', id);
    removed += await services.accounts.signOutEverywhere(id);
    accounts += 1;
  }
  await services.audit.record({ type: 'admin.users.signed_out_all', outcome: 'success', actor: 'cli', details: { accounts, sessions, removed } });
  out(`Signed every user out everywhere: ${plural(accounts, 'account')}, ${plural(sessions, 'session')} ended, ${removed} removed in all (sessions, grants, tokens and codes).`);
}

async function signOutCommand(services: Services, user: string | undefined, opts: { all?: boolean; yes?: boolean }): Promise<void> {
  if (opts.all) {
    if (user !== undefined) throw new CliError('give a user or --all, not both');
    if (!opts.yes) throw new CliError('--all signs every user out everywhere; add --yes to confirm');
    await signOutAll(services);
    return;
  }
  if (user === undefined) throw new CliError('give a user, or --all --yes to sign every user out');
  await signOut(services, user);
}

export function registerManage(users: Command): void {
  const user = ['<user>', 'login, email or account id'] as const;
  users
    .command('disable')
    .summary('disable a user and end their sessions')
    .description('Disable a user: sign-in is refused and every session, grant and token ends.')
    .argument(...user)
    .action(withServices((s, u: string) => setStatus(s, u, 'disabled')));

  users
    .command('enable')
    .summary('enable a disabled user')
    .description('Enable a disabled user again.')
    .argument(...user)
    .action(withServices((s, u: string) => setStatus(s, u, 'active')));

  users
    .command('unlock')
    .summary('clear failed sign-ins and the lockout')
    .description('Clear the failed sign-in count and the lockout of a user.')
    .argument(...user)
    .action(withServices(unlock));

  users
    .command('groups')
    .summary('set (replace) or --clear the groups of a user')
    .description('Set the groups of a user, replacing the current ones; --clear removes every group.')
    .argument(...user)
    .argument('[groups...]', 'the new groups')
    .option('--clear', 'remove every group')
    .addHelpText('after', '\nExamples:\n  rekey users groups alice staff it\n  rekey users groups alice --clear')
    .action(withServices(groups));

  users
    .command('admin')
    .summary('set (--on) or remove (--off) the admin flag')
    .description('Make a user an admin (--on) or a regular user (--off).')
    .argument(...user)
    .option('--on', 'make the user an admin')
    .option('--off', 'take the admin flag away')
    .addHelpText('after', '\nExamples:\n  rekey users admin alice --on\n  rekey users admin alice --off')
    .action(withServices(admin));

  users
    .command('sign-out')
    .summary('sign a user (or, with --all --yes, every user) out everywhere')
    .description('Sign a user out everywhere: ends every session and revokes every grant and token. With --all (and --yes to confirm) every user is signed out.')
    .argument('[user]', 'login, email or account id')
    .option('--all', 'sign every user out everywhere')
    .option('--yes', 'confirm --all')
    .addHelpText('after', '\nExamples:\n  rekey users sign-out alice\n  rekey users sign-out --all --yes')
    .action(withServices(signOutCommand));
}
