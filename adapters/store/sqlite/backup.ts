/**
 * Online backup and restore of the SQLite store through SQLite's backup API: a consistent
 * copy while the server keeps running, and a restore that other connections see at once.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { InvalidInput } from '../../../src/errors.ts';
import { BUSY_TIMEOUT_MS } from './db.ts';
import { migrations } from './migrations.ts';

export interface BackupInfo {
  accounts: number;
  schemaSteps: number;
}

/** Checks that `file` is an intact rekey database this version understands. */
export function inspectBackup(file: string): BackupInfo {
  if (!existsSync(file)) throw new InvalidInput(`${file} does not exist`);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new InvalidInput(`${file} is damaged: ${String(integrity)}`);
    const steps = db.prepare<[], { id: number }>('SELECT id FROM schema_migrations').all().map((r) => r.id);
    const known = new Set(migrations.map((m) => m.id));
    if (steps.some((id) => !known.has(id))) throw new InvalidInput(`${file} was written by a newer version of rekey`);
    const accounts = (db.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n;
    return { accounts, schemaSteps: steps.length };
  } catch (e) {
    if (e instanceof InvalidInput) throw e;
    throw new InvalidInput(`${file} is not a rekey database (${(e as Error).message})`);
  } finally {
    db?.close();
  }
}

export async function backupDatabase(liveFile: string, destination: string): Promise<BackupInfo> {
  if (!existsSync(liveFile)) throw new InvalidInput(`there is no database at ${liveFile} (check DATA_DIR)`);
  if (existsSync(destination)) throw new InvalidInput(`${destination} already exists; choose a new file name`);
  const db = new Database(liveFile, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    await db.backup(destination);
  } finally {
    db.close();
  }
  return inspectBackup(destination);
}

/** Replaces the live database's content with the backup's, page by page, under SQLite's locks. */
export async function restoreDatabase(backupFile: string, liveFile: string): Promise<BackupInfo> {
  const info = inspectBackup(backupFile);
  const source = new Database(backupFile, { readonly: true, fileMustExist: true });
  try {
    await source.backup(liveFile);
  } finally {
    source.close();
  }
  return info;
}
