import { ConfigError } from '../../../src/errors.ts';
import type { Db } from './db.ts';

export interface Migration {
  /** Increasing, never reused: the row in `schema_migrations` says it was applied. */
  id: number;
  name: string;
  sql: string;
}

/**
 * The schema, as steps. Append only: a released step is never edited, because databases in
 * the field already ran it; change the schema with a new step instead.
 */
export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'accounts',
    sql: `
      CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL,
        version INTEGER NOT NULL,
        -- Its own column so the per-request revocation check does not parse the record.
        not_before INTEGER NOT NULL
      );
      CREATE TABLE account_emails (
        address TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE
      );
      CREATE INDEX account_emails_account ON account_emails (account_id);
    `,
  },
  {
    id: 2,
    name: 'ephemeral',
    sql: `
      CREATE TABLE ephemeral (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX ephemeral_expires ON ephemeral (expires_at);
    `,
  },
  {
    id: 3,
    name: 'counters',
    sql: `
      CREATE TABLE counters (
        key TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        reset_at INTEGER NOT NULL
      );
      CREATE INDEX counters_reset ON counters (reset_at);
    `,
  },
  {
    id: 4,
    name: 'oidc',
    sql: `
      CREATE TABLE oidc (
        model TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        account_id TEXT,
        grant_id TEXT,
        uid TEXT,
        user_code TEXT,
        PRIMARY KEY (model, id)
      );
      CREATE INDEX oidc_account ON oidc (account_id, model) WHERE account_id IS NOT NULL;
      CREATE INDEX oidc_grant ON oidc (grant_id) WHERE grant_id IS NOT NULL;
      CREATE INDEX oidc_uid ON oidc (model, uid) WHERE uid IS NOT NULL;
      CREATE INDEX oidc_user_code ON oidc (model, user_code) WHERE user_code IS NOT NULL;
      CREATE INDEX oidc_expires ON oidc (expires_at);
    `,
  },
  {
    id: 5,
    name: 'logs',
    sql: `
      CREATE TABLE logs (
        -- AUTOINCREMENT so a sequence number is never handed out twice, even after the newest
        -- rows were collected.
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        stream TEXT NOT NULL,
        at INTEGER NOT NULL,
        entry TEXT NOT NULL,
        retain_until INTEGER NOT NULL
      );
      CREATE INDEX logs_stream ON logs (stream, seq);
      CREATE INDEX logs_retain ON logs (retain_until);
    `,
  },
  {
    id: 6,
    name: 'logs_by_time',
    // Listings go by time (then seq) and page through a time range: `rekey audit`, `rekey report`.
    sql: `
      CREATE INDEX logs_stream_at ON logs (stream, at, seq);
    `,
  },
];

/**
 * Brings the schema up to date in one transaction. IMMEDIATE takes the write lock before
 * reading what was applied, so when the server and the CLI start together one migrates and
 * the other waits (busy timeout) and then finds nothing left to do.
 */
export function migrate(db: Db, now: number): void {
  const apply = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    )`);
    const applied = new Set(
      db
        .prepare<[], { id: number }>('SELECT id FROM schema_migrations')
        .all()
        .map((row) => row.id),
    );
    const known = new Set(migrations.map((m) => m.id));
    const unknown = [...applied].filter((id) => !known.has(id));
    if (unknown.length > 0) {
      // Running old code on a newer schema could silently drop what the newer code relies on.
      throw new ConfigError(
        `The database ${db.name} was written by a newer version of rekey (schema step ${Math.max(...unknown)}); upgrade rekey.`,
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)');
    for (const m of migrations) {
      if (applied.has(m.id)) continue;
      db.exec(m.sql);
      record.run(m.id, m.name, now);
    }
  });
  apply.immediate();
}
