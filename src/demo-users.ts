/** Demo users for development (refused in production). Fixed passwords, printed at start. */
import type { Accounts } from './domain/accounts.ts';

export const DEMO_USERS = [
  { login: 'alice', email: 'alice@example.com', name: 'Alice Example', groups: ['staff'], admin: false, password: 'purple-otter-rides-at-dawn' },
  { login: 'root', email: 'root@example.com', name: 'Rita Admin', groups: ['staff', 'it'], admin: true, password: 'ivory-lantern-sails-north' },
] as const;

export async function seedDemoUsers(accounts: Accounts): Promise<{ login: string; password: string }[]> {
  for (const u of DEMO_USERS) {
    if (await accounts.findByIdentifier(u.login)) continue;
    await accounts.create({ login: u.login, email: u.email, name: u.name, groups: [...u.groups], admin: u.admin, password: u.password });
  }
  return DEMO_USERS.map((u) => ({ login: u.login, password: u.password }));
}
