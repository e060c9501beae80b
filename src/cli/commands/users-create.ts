/** `users create` and `users temp-password`: the two commands that print a password once. */
import type { Command } from 'commander';
import { Conflict, InvalidInput, RekeyError } from '../../errors.ts';
import type { Services } from '../../services.ts';
import type { AccountRecord } from '../../store/types.ts';
import { duration, time } from '../format.ts';
import { CliError, out, readFirstLine, withServices } from '../runtime.ts';

interface CreateOptions {
  email?: string;
  name?: string;
  group: string[];
  admin?: boolean;
  passwordStdin?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function problemText(services: Services, problem: unknown): string {
  const rules = services.accounts.rules;
  switch (problem) {
    case 'password_too_short':
      return `it is shorter than ${rules.minLength} characters (PASSWORD_MIN_LENGTH)`;
    case 'password_too_long':
      return `it is longer than ${rules.maxLength} characters (PASSWORD_MAX_LENGTH)`;
    case 'password_common':
      return 'it is a commonly used password';
    case 'password_contains_identity':
      return 'it contains the login or the name part of the email address';
    case 'password_contains_context':
      return 'it contains the product name or a word of the service address (PRODUCT_NAME, ISSUER)';
    case 'password_breached':
      return 'it appears in the breach corpus (BREACHED_PASSWORDS_FILE)';
    default:
      return String(problem);
  }
}

function printTemporaryPassword(services: Services, account: AccountRecord, password: string, when: string): void {
  const ttl = services.config.TEMP_PASSWORD_TTL_HOURS * 3600;
  const expires = account.passwordExpiresAt !== undefined ? `expires ${time(account.passwordExpiresAt)}` : 'expires';
  out(
    `Temporary password: ${password}`,
    `It is shown only this once. ${account.login} must change it at the ${when} sign-in; it ${expires} (in ${duration(ttl)}, TEMP_PASSWORD_TTL_HOURS).`,
  );
}

async function create(services: Services, login: string, opts: CreateOptions): Promise<void> {
  const password = opts.passwordStdin ? await readFirstLine() : undefined;
  let result: Awaited<ReturnType<Services['accounts']['create']>>;
  try {
    result = await services.accounts.create({
      login,
      ...(opts.email !== undefined ? { email: opts.email } : {}),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      groups: opts.group,
      admin: opts.admin ?? false,
      ...(password !== undefined ? { password } : {}),
    });
  } catch (e) {
    const reason = e instanceof InvalidInput && e.details.problem !== undefined ? String(e.details.problem) : e instanceof RekeyError ? e.id : 'unexpected';
    await services.audit.record({ type: 'admin.user.created', outcome: 'failure', actor: 'cli', reason, details: { login } });
    if (e instanceof InvalidInput && e.details.problem !== undefined) {
      throw new CliError(`password rejected: ${problemText(services, e.details.problem)}; nothing was created`);
    }
    if (e instanceof Conflict && (e.details.field === 'login' || e.details.field === 'email')) {
      const value = e.details.field === 'login' ? login : opts.email;
      throw new CliError(`${e.details.field} "${value}" is already taken by another user; nothing was created`);
    }
    if (e instanceof RekeyError) throw new CliError(`${e.message}; nothing was created`);
    throw e;
  }
  const { account, temporaryPassword } = result;
  await services.audit.record({
    type: 'admin.user.created',
    outcome: 'success',
    accountId: account.id,
    actor: 'cli',
    details: { login: account.login, admin: account.admin, groups: account.groups.join(','), password: temporaryPassword ? 'temporary' : 'chosen' },
  });
  out(`Created user ${account.login} (id ${account.id})${temporaryPassword ? '.' : ' with the password read from stdin.'}`);
  if (temporaryPassword) printTemporaryPassword(services, account, temporaryPassword, 'first');
}

async function temporaryPassword(services: Services, user: string): Promise<void> {
  const found = await services.accounts.require(user);
  const password = await services.accounts.issueTemporaryPassword(found.id);
  await services.audit.record({ type: 'admin.password.set', outcome: 'success', accountId: found.id, actor: 'cli', details: { temporary: true } });
  const account = await services.accounts.require(found.id);
  out(`Issued a new temporary password for ${account.login}; the old password no longer works and every session was ended.`);
  printTemporaryPassword(services, account, password, 'next');
  const lock = await services.accounts.lockState(account.id);
  if (lock.locked) out(`Note: ${account.login} is locked after failed sign-ins; run "rekey users unlock ${account.login}" too.`);
  if (account.status === 'disabled') out(`Note: ${account.login} is disabled; run "rekey users enable ${account.login}" too.`);
}

export function registerCreate(users: Command): void {
  users
    .command('create')
    .summary('create a user; prints a temporary password once')
    .description(
      'Create a user. Without --password-stdin a temporary password is generated and printed once; it must be changed at the first sign-in and expires after TEMP_PASSWORD_TTL_HOURS.',
    )
    .argument('<login>', 'login name: 1–64 characters a–z 0–9 . _ @ + -, starting with a letter or digit')
    .option('--email <addr>', 'email address')
    .option('--name <name>', 'display name (default: the login)')
    .option('--group <group>', 'group to put the user in (repeat for several)', collect, [])
    .option('--admin', 'make the user an admin')
    .option('--password-stdin', 'read the password from the first line of stdin instead of generating a temporary one')
    .addHelpText('after', `\nExamples:\n  rekey users create alice --email alice@example.com --group staff\n  printf '%s\\n' "$PASSWORD" | rekey users create bob --password-stdin`)
    .action(withServices(create));
}

export function registerTempPassword(users: Command): void {
  users
    .command('temp-password')
    .summary('issue a new temporary password, printed once')
    .description(
      'Replace the password of a user with a new temporary one, printed once; it ends every session and must be changed at the next sign-in.',
    )
    .argument('<user>', 'login, email or account id')
    .action(withServices(temporaryPassword));
}
