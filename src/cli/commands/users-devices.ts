/**
 * Remembered devices ("don't ask again on this device") from the admin's side: `users devices`
 * lists a user's devices (browser and system, when remembered, until when), and `users
 * forget-devices` forgets one (`--device <id>`) or all, so the next sign-in on them asks for
 * the second factor again. The device secrets are never shown.
 */
import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import { iso, table, time } from '../format.ts';
import { CliError, out, withServices } from '../runtime.ts';

async function list(services: Services, user: string, opts: { json?: boolean }): Promise<void> {
  const a = await services.accounts.require(user);
  const { devices } = services;
  const found = devices.list(a);
  if (opts.json) {
    out(
      JSON.stringify(
        {
          id: a.id,
          login: a.login,
          enabled: devices.enabled,
          devices: found.map((d) => ({ id: d.id, label: d.label, createdAt: iso(d.createdAt), expiresAt: iso(d.expiresAt), lastUsedAt: iso(d.lastUsedAt) })),
        },
        null,
        2,
      ),
    );
    return;
  }
  if (found.length === 0) out(`${a.login} has no remembered devices.`);
  else {
    const stamp = (ms: number | undefined): string => (ms === undefined ? '' : time(ms));
    out(
      ...table(
        ['ID', 'DEVICE', 'REMEMBERED', 'EXPIRES', 'LAST USED'],
        found.map((d) => [d.id, d.label, stamp(d.createdAt), stamp(d.expiresAt), stamp(d.lastUsedAt)]),
      ),
      '',
      `${found.length} remembered device${found.length === 1 ? '' : 's'}. Forget with "rekey users forget-devices ${a.login} [--device <id>]".`,
    );
  }
  if (!devices.enabled) out(`Note: remembering devices is off (REMEMBER_DEVICE_DAYS=0), so no device skips the second factor.`);
}

async function forget(services: Services, user: string, opts: { device?: string }): Promise<void> {
  const a = await services.accounts.require(user);
  if (opts.device !== undefined && !/^[\w-]{1,64}$/.test(opts.device)) throw new CliError(`--device "${opts.device}" is not a device id (see "rekey users devices ${a.login}")`);
  const label = opts.device !== undefined ? (a.devices ?? []).find((d) => d.id === opts.device)?.label : undefined;
  const removed = await services.devices.forget(a.id, opts.device);
  if (opts.device !== undefined) {
    if (removed === 0) throw new CliError(`${a.login} has no remembered device ${opts.device} (see "rekey users devices ${a.login}")`);
    await services.audit.record({ type: 'device.forgotten', outcome: 'success', accountId: a.id, actor: 'cli', details: { all: false, count: removed, deviceId: opts.device, ...(label ? { label } : {}) } });
    out(`Forgot the remembered device ${opts.device}${label ? ` (${label})` : ''} of ${a.login}: its next sign-in asks for the second factor again.`);
    return;
  }
  if (removed === 0) {
    out(`${a.login} has no remembered devices.`);
    return;
  }
  await services.audit.record({ type: 'device.forgotten', outcome: 'success', accountId: a.id, actor: 'cli', details: { all: true, count: removed } });
  out(`Forgot ${removed} remembered device${removed === 1 ? '' : 's'} of ${a.login}: the next sign-in on each asks for the second factor again.`);
}

export function registerDevices(users: Command): void {
  const user = ['<user>', 'login, email or account id'] as const;
  users
    .command('devices')
    .summary("list a user's remembered devices")
    .description(
      'List the devices where a user chose "don\'t ask again on this device" and that still count: browser and system, when remembered and until when (REMEMBER_DEVICE_DAYS). Never shows secrets.',
    )
    .argument(...user)
    .option('--json', 'print JSON instead of a table')
    .action(withServices(list));

  users
    .command('forget-devices')
    .summary('forget remembered devices: the second factor is asked again')
    .description('Forget every remembered device of a user, or only the one given with --device, so the next sign-in there asks for the second factor again. Audited.')
    .argument(...user)
    .option('--device <id>', 'forget only this device (an ID from "rekey users devices")')
    .addHelpText('after', '\nExamples:\n  rekey users forget-devices alice\n  rekey users forget-devices alice --device 3kF9xQ2mZ7pA')
    .action(withServices(forget));
}
