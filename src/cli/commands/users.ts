/** The `users` command group. */
import type { Command } from 'commander';
import { registerCreate, registerTempPassword } from './users-create.ts';
import { registerManage } from './users-manage.ts';
import { registerView } from './users-view.ts';
import { registerImport } from './users-import.ts';
import { registerSecurity } from './users-security.ts';
import { registerReset } from './users-reset.ts';
import { registerDevices } from './users-devices.ts';

export function registerUsers(program: Command): void {
  const users = program
    .command('users')
    .summary('create, list, show and manage users')
    .description('Create, list, show and manage users (a <user> is a login, an email or an account id).');
  registerCreate(users);
  registerView(users);
  registerManage(users);
  registerTempPassword(users);
  registerImport(users);
  registerSecurity(users);
  registerReset(users);
  registerDevices(users);
}
