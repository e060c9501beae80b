/** `rekey users import <file.csv>`: bulk creation with a progress bar and a per-row report. */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { countCsvRows, importUsers, IMPORT_COLUMNS } from '../../domain/user-import.ts';
import { CliError, out, withServices } from '../runtime.ts';

/** Read whole: even 100,000 rows are a few MB, and a read error surfaces before any row is created. */
function readCsv(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function registerImport(users: Command): void {
  users
    .command('import')
    .summary('create users from a CSV file')
    .description(
      `Create users from a CSV file with a header line. Columns: ${IMPORT_COLUMNS.join(', ')} (only login is required; groups are separated by ";"; admin is true/false). ` +
        'Passwords are never imported: imported users get none until they are invited. Bad rows are skipped and listed with their line number; good rows are kept. Exit code 1 when any row failed.',
    )
    .argument('<file>', 'CSV file (UTF-8)')
    .option('--dry-run', 'check every row and report, but create nothing')
    .addHelpText('after', '\nExample:\n  login,email,name,groups,admin\n  ada,ada@example.com,Ada Lovelace,staff;it,false\n\n  $ rekey users import people.csv')
    .action(
      withServices(async (services, file: string, opts: { dryRun?: boolean }) => {
        const text = readCsv(file);
        const total = await countCsvRows(Readable.from([text]));
        const bar = new cliProgress.SingleBar(
          { stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000, format: 'importing [{bar}] {value}/{total} rows' },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0);
        try {
          const result = await importUsers(services.accounts, Readable.from([text]), { dryRun: opts.dryRun === true, onRow: (n) => bar.update(n) });
          bar.stop();
          out(`${opts.dryRun ? 'Would create' : 'Created'} ${result.created} user(s); ${result.failed.length} row(s) failed.`);
          for (const f of result.failed) out(`  line ${f.line}${f.login ? ` (${f.login})` : ''}: ${f.reason}`);
          if (result.failed.length > 0) process.exitCode = 1;
        } finally {
          bar.stop();
        }
      }),
    );
}
