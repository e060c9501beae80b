/** `rekey backup` / `rekey restore`: online backup of the embedded SQLite store. */
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, out, withServices } from '../runtime.ts';

async function sqlitePath(): Promise<string> {
  const { loadConfig } = await import('../../config/load.ts');
  const { sqliteFile } = await import('../../../adapters/store/open.ts');
  const config = loadConfig();
  if (config.REDIS_URL || config.REDIS_CLUSTER_NODES) {
    throw new CliError('the store is Redis: back it up with Redis persistence (RDB snapshots or AOF), see README "Backups"');
  }
  return sqliteFile(config);
}

export function registerStore(program: Command): void {
  program
    .command('backup')
    .summary('write a consistent copy of the SQLite store')
    .description('Write a consistent copy of the embedded SQLite store to <file> while the server keeps running (SQLite online backup).')
    .argument('<file>', 'new file to write (must not exist)')
    .action(async (file: string) => {
      const { backupDatabase } = await import('../../../adapters/store/sqlite/backup.ts');
      const info = await backupDatabase(await sqlitePath(), resolve(file));
      out(`Backup written to ${resolve(file)} (${info.accounts} account(s), schema step ${info.schemaSteps}).`);
    });
  program
    .command('restore')
    .summary('replace the SQLite store with a backup')
    .description(
      'Replace the content of the embedded SQLite store with a backup made by `rekey backup`. Everything written since the backup is lost, including sessions. The backup is checked first; a running server sees the restored data at once.',
    )
    .argument('<file>', 'backup file')
    .option('--yes', 'confirm that the current data is replaced')
    .action(async (file: string, opts: { yes?: boolean }) => {
      if (!opts.yes) throw new CliError('restore replaces all current data; run again with --yes to confirm');
      const { restoreDatabase } = await import('../../../adapters/store/sqlite/backup.ts');
      const info = await restoreDatabase(resolve(file), await sqlitePath());
      // Recorded in the restored store: its trail goes on from the backup's.
      await withServices(async (services) => {
        await services.audit.record({ type: 'admin.store.restored', outcome: 'success', actor: 'cli', details: { file: basename(file), accounts: info.accounts } });
      })();
      out(`Restored ${resolve(file)} (${info.accounts} account(s)).`);
    });
}
