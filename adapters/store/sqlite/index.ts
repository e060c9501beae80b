/**
 * The embedded store: one SQLite file shared by the server and the CLI. Expiry is decided by
 * the injected clock in every query; expired rows are collected opportunistically on writes.
 */
import type { Clock, Store } from '../../../src/store/types.ts';
import { sqliteAccounts } from './accounts.ts';
import { sqliteCounters } from './counters.ts';
import { openDatabase, runner, translate } from './db.ts';
import { sqliteEphemeral } from './ephemeral.ts';
import { sqliteLogs } from './logs.ts';
import { migrate } from './migrations.ts';
import { sqliteOidc } from './oidc.ts';

export interface SqliteStoreOptions {
  /** Database file; its folder is created when missing. */
  file: string;
  clock: Clock;
}

export function openSqliteStore(options: SqliteStoreOptions): Store {
  const { file, clock } = options;
  const db = openDatabase(file);
  try {
    migrate(db, clock());
  } catch (err) {
    db.close();
    throw translate(undefined, err);
  }
  const run = runner(db);
  const probe = db.prepare('SELECT 1');
  return {
    backend: 'sqlite',
    accounts: sqliteAccounts(db, clock),
    ephemeral: sqliteEphemeral(db, clock),
    counters: sqliteCounters(db, clock),
    oidc: sqliteOidc(db, clock),
    logs: sqliteLogs(db, clock),
    async ping() {
      run(() => probe.get());
    },
    async close() {
      // Idempotent: shutdown paths may close twice.
      if (db.open) db.close();
    },
  };
}
