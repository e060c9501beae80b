/**
 * Bulk import of users from CSV. The columns are fixed and documented (README, "Importing
 * users"); passwords are never imported: imported users get none until they are invited.
 * Bad rows are skipped and reported with their line number; good rows are kept.
 */
import { parse } from 'csv-parse';
import type { Readable } from 'node:stream';
import { InvalidInput, RekeyError } from '../errors.ts';
import type { Accounts } from './accounts.ts';
import type { AccountRecord } from '../store/types.ts';

export const IMPORT_COLUMNS = ['login', 'email', 'name', 'groups', 'admin'] as const;
type Column = (typeof IMPORT_COLUMNS)[number];

export interface ImportRowError {
  line: number;
  login: string;
  reason: string;
}

export interface ImportResult {
  created: number;
  failed: ImportRowError[];
}

export interface ImportOptions {
  dryRun?: boolean;
  onRow?: (done: number) => void;
  /** Called with each account created (never in a dry run), e.g. to invite it afterwards. */
  onCreated?: (account: AccountRecord) => void;
}

function checkHeader(header: string[]): Column[] {
  const names = header.map((h) => h.trim().toLowerCase());
  const secret = names.find((n) => /pass|secret|hash|pwd/.test(n));
  if (secret) {
    throw new InvalidInput(`column "${secret}" refused: CSV imports never carry passwords; imported users get no password until invited`);
  }
  const unknown = names.find((n) => !(IMPORT_COLUMNS as readonly string[]).includes(n));
  if (unknown !== undefined) throw new InvalidInput(`unknown column "${unknown}"; allowed columns: ${IMPORT_COLUMNS.join(', ')}`);
  if (!names.includes('login')) throw new InvalidInput('the header has no "login" column');
  if (new Set(names).size !== names.length) throw new InvalidInput('a column appears twice in the header');
  return names as Column[];
}

function parseAdmin(v: string | undefined): boolean {
  const s = (v ?? '').trim().toLowerCase();
  if (s === '' || s === 'false' || s === 'no' || s === '0') return false;
  if (s === 'true' || s === 'yes' || s === '1') return true;
  throw new InvalidInput(`admin "${v}" is invalid: use true or false`);
}

/** Counts data rows first so the caller can show a progress bar with a total. */
export async function countCsvRows(input: Readable): Promise<number> {
  let rows = -1;
  for await (const _ of input.pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true }))) rows += 1;
  return Math.max(rows, 0);
}

export async function importUsers(accounts: Accounts, input: Readable, options: ImportOptions = {}): Promise<ImportResult> {
  const parser = input.pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true, info: true }));
  let columns: Column[] | undefined;
  const result: ImportResult = { created: 0, failed: [] };
  const seen = new Set<string>();
  const seenEmails = new Set<string>();
  let done = 0;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    if (!columns) {
      columns = checkHeader(record);
      continue;
    }
    const row = Object.fromEntries(columns.map((c, i) => [c, record[i]?.trim() ?? ''])) as Record<Column, string>;
    const line = info.lines;
    try {
      if (record.length !== columns.length) throw new InvalidInput(`expected ${columns.length} fields, found ${record.length}`);
      if (!row.login) throw new InvalidInput('login is empty');
      const key = row.login.normalize('NFKC').toLowerCase();
      if (seen.has(key)) throw new InvalidInput('the same login appears earlier in the file');
      seen.add(key);
      const email = row.email?.normalize('NFKC').trim().toLowerCase();
      if (email && seenEmails.has(email)) throw new InvalidInput('the same email appears earlier in the file');
      if (email) seenEmails.add(email);
      const input = {
        login: row.login,
        noPassword: true,
        admin: parseAdmin(row.admin),
        groups: (row.groups ?? '').split(';').map((g) => g.trim()).filter(Boolean),
        ...(row.email ? { email: row.email } : {}),
        ...(row.name ? { name: row.name } : {}),
      };
      if (options.dryRun) await accounts.validateNew(input);
      else {
        const { account } = await accounts.create(input);
        options.onCreated?.(account);
      }
      result.created += 1;
    } catch (e) {
      if (!(e instanceof RekeyError) || !e.expose) throw e;
      result.failed.push({ line, login: row.login ?? '', reason: e.message });
    }
    done += 1;
    options.onRow?.(done);
  }
  if (!columns) throw new InvalidInput('the file is empty: it needs a header line');
  return result;
}
