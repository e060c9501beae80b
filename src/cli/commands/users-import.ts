/** `rekey users import <file.csv>`: bulk creation with a progress bar and a per-row report. */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { countCsvRows, importUsers, IMPORT_COLUMNS } from '../../domain/user-import.ts';
import { Invitations } from '../../domain/invitations.ts';
import type { AccountRecord } from '../../store/types.ts';
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
    .option('--invite', 'email an invitation to every created user that has an email address')
    .addHelpText('after', '\nExample:\n  login,email,name,groups,admin\n  ada,ada@example.com,Ada Lovelace,staff;it,false\n\n  $ rekey users import people.csv')
    .action(
      withServices(async (services, file: string, opts: { dryRun?: boolean; invite?: boolean }) => {
        const text = readCsv(file);
        const total = await countCsvRows(Readable.from([text]));
        const bar = new cliProgress.SingleBar(
          { stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000, format: 'importing [{bar}] {value}/{total} rows' },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0);
        const created: AccountRecord[] = [];
        try {
          const result = await importUsers(services.accounts, Readable.from([text]), {
            dryRun: opts.dryRun === true,
            onRow: (n) => bar.update(n),
            onCreated: (a) => void created.push(a),
          });
          bar.stop();
          if (!opts.dryRun) {
            await services.audit.record({ type: 'admin.users.imported', outcome: result.failed.length > 0 ? 'failure' : 'success', actor: 'cli', ...(result.failed.length > 0 ? { reason: 'rows_failed' } : {}), details: { created: result.created, failed: result.failed.length, rows: total } });
          }
          out(`${opts.dryRun ? 'Would create' : 'Created'} ${result.created} user(s); ${result.failed.length} row(s) failed.`);
          for (const f of result.failed) out(`  line ${f.line}${f.login ? ` (${f.login})` : ''}: ${f.reason}`);
          if (result.failed.length > 0) process.exitCode = 1;
          if (opts.invite && !opts.dryRun) {
            // After the import, so a slow mail server does not hold the rows back.
            const invitations = new Invitations(services);
            const withEmail = created.filter((a) => a.emails.length > 0);
            const failed: string[] = [];
            for (const a of withEmail) {
              try {
                await invitations.issue(a, { actor: 'cli' });
              } catch (e) {
                failed.push(`  ${a.login}: ${(e as Error).message}`);
              }
            }
            const skipped = created.length - withEmail.length;
            out(`Invited ${withEmail.length - failed.length} user(s)${skipped ? `; ${skipped} without an email address were not invited` : ''}${failed.length ? `; ${failed.length} invitation(s) could not be sent:` : '.'}`);
            if (failed.length > 0) {
              out(...failed);
              process.exitCode = 1;
            }
          }
        } finally {
          bar.stop();
        }
      }),
    );
}
