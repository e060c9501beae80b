import Database from 'better-sqlite3';
import { Conflict } from '../../../src/errors.ts';
import type { AccountRecord, AccountRepo, Clock, EmailAddress } from '../../../src/store/types.ts';
import { faultPoint } from '../../../src/domain/fault-points.ts';
import { runner, type Db } from './db.ts';

interface AccountRow {
  record: string;
  version: number;
}

function toRecord(row: AccountRow): AccountRecord {
  // The column is authoritative: it is what the optimistic check compares against.
  return { ...(JSON.parse(row.record) as AccountRecord), version: row.version };
}

function toMaybeRecord(row: AccountRow | undefined): AccountRecord | undefined {
  return row === undefined ? undefined : toRecord(row);
}

function loginTaken(): Error {
  return new Conflict('login is taken', { field: 'login' });
}

function emailTaken(): Error {
  return new Conflict('email is taken', { field: 'email' });
}

/**
 * The reset commit writes a password, never the login or the email list: the Redis backend
 * cannot move its cross-slot unique indexes inside that one script, and both backends refuse
 * alike. A changed `verified` flag is not such a change (the indexes hold addresses only).
 */
function changesLoginOrEmails(stored: AccountRecord, next: AccountRecord): boolean {
  if (stored.login !== next.login || stored.emails.length !== next.emails.length) return true;
  return stored.emails.some((e, i) => e.address !== next.emails[i]!.address);
}

function loginOrEmailsChanged(): Error {
  return new Error('commitWithConsume cannot change login or emails');
}

/** Thrown inside the commit transaction to roll the consumed flow back; never escapes. */
class StaleVersion extends Error {}

/**
 * The explicit checks below run inside IMMEDIATE transactions and so cannot race; this maps
 * the unique constraints anyway, in case a future code path writes without checking first.
 */
function constraintToConflict(err: unknown): unknown {
  if (!(err instanceof Database.SqliteError)) return err;
  if (err.code !== 'SQLITE_CONSTRAINT_UNIQUE' && err.code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return err;
  if (err.message.includes('accounts.login')) return loginTaken();
  if (err.message.includes('account_emails.address')) return emailTaken();
  return new Conflict('account id is taken', { field: 'id' });
}

export function sqliteAccounts(db: Db, clock: Clock): AccountRepo {
  const run = runner(db);
  const columns = 'SELECT record, version FROM accounts';
  const byId = db.prepare<[string], AccountRow>(`${columns} WHERE id = ?`);
  const byLogin = db.prepare<[string], AccountRow>(`${columns} WHERE login = ?`);
  const byEmail = db.prepare<[string], AccountRow>(
    'SELECT a.record, a.version FROM account_emails e JOIN accounts a ON a.id = e.account_id WHERE e.address = ?',
  );
  const versionOf = db.prepare<[string], { version: number }>('SELECT version FROM accounts WHERE id = ?');
  const loginOwner = db.prepare<[string], { id: string }>('SELECT id FROM accounts WHERE login = ?');
  const emailOwner = db.prepare<[string], { account_id: string }>(
    'SELECT account_id FROM account_emails WHERE address = ?',
  );
  const insert = db.prepare<{ id: string; login: string; record: string; version: number; notBefore: number }>(
    'INSERT INTO accounts (id, login, record, version, not_before) VALUES (@id, @login, @record, @version, @notBefore)',
  );
  const update = db.prepare<{ id: string; login: string; record: string; version: number; notBefore: number }>(
    `UPDATE accounts SET login = @login, record = @record, version = version + 1, not_before = @notBefore
     WHERE id = @id AND version = @version`,
  );
  // The same live test as the ephemeral store's reads: an expired row is not consumed (and stays).
  const consumeLive = db.prepare<[string, number]>('DELETE FROM ephemeral WHERE key = ? AND expires_at > ?');
  const dropEmails = db.prepare<[string]>('DELETE FROM account_emails WHERE account_id = ?');
  // DO NOTHING: an address listed twice in one record is the same claim, not a clash.
  const claimEmail = db.prepare<[string, string]>(
    'INSERT INTO account_emails (address, account_id) VALUES (?, ?) ON CONFLICT (address) DO NOTHING',
  );
  const notBeforeOf = db.prepare<[string], { not_before: number }>('SELECT not_before FROM accounts WHERE id = ?');
  const page = db.prepare<[number, number], AccountRow>(`${columns} ORDER BY login LIMIT ? OFFSET ?`);
  const total = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM accounts');

  function assertEmailsFree(id: string, emails: EmailAddress[]): void {
    for (const { address } of emails) {
      const owner = emailOwner.get(address);
      if (owner !== undefined && owner.account_id !== id) throw emailTaken();
    }
  }

  function syncEmails(id: string, emails: EmailAddress[]): void {
    dropEmails.run(id);
    for (const { address } of emails) claimEmail.run(address, id);
  }

  const create = db.transaction((account: AccountRecord): void => {
    if (versionOf.get(account.id) !== undefined) throw new Conflict('account id is taken', { field: 'id' });
    if (loginOwner.get(account.login) !== undefined) throw loginTaken();
    assertEmailsFree(account.id, account.emails);
    insert.run({
      id: account.id,
      login: account.login,
      record: JSON.stringify(account),
      version: account.version,
      notBefore: account.notBefore,
    });
    syncEmails(account.id, account.emails);
  });

  /** The optimistic write: only when the stored version still equals `next.version`, which it then bumps. */
  const writeIfVersion = (next: AccountRecord) =>
    update.run({
      id: next.id,
      login: next.login,
      record: JSON.stringify({ ...next, version: next.version + 1 }),
      version: next.version,
      notBefore: next.notBefore,
    });

  const replace = db.transaction((next: AccountRecord): boolean => {
    // Stale first: a writer that lost the race re-reads and retries, and may then find no clash.
    if (versionOf.get(next.id)?.version !== next.version) return false;
    const owner = loginOwner.get(next.login);
    if (owner !== undefined && owner.id !== next.id) throw loginTaken();
    assertEmailsFree(next.id, next.emails);
    const written = writeIfVersion(next);
    if (written.changes === 0) return false;
    syncEmails(next.id, next.emails);
    return true;
  });

  const commitWithConsume = db.transaction((next: AccountRecord, consumeKey: string): 'ok' | 'consumed' => {
    const stored = byId.get(next.id);
    // Only against the record `next` was derived from: at another version it is a conflict.
    if (stored !== undefined && stored.version === next.version && changesLoginOrEmails(toRecord(stored), next)) {
      throw loginOrEmailsChanged();
    }
    if (consumeLive.run(consumeKey, clock()).changes === 0) return 'consumed';
    faultPoint('reset.commit.mid_transaction');
    const written = writeIfVersion(next);
    // Throwing rolls the transaction back: the flow stays for a retry on the fresh record.
    if (written.changes === 0) throw new StaleVersion();
    syncEmails(next.id, next.emails);
    return 'ok';
  });

  /**
   * Runs a check-then-write transaction. Callers start it IMMEDIATE: taking the write lock up
   * front makes the checks race-free across processes, and in WAL mode a deferred transaction
   * that reads first and then writes can fail at once with SQLITE_BUSY_SNAPSHOT instead of
   * waiting out the busy timeout.
   */
  function write<T>(fn: () => T): T {
    return run(() => {
      try {
        return fn();
      } catch (err) {
        throw constraintToConflict(err);
      }
    });
  }

  return {
    async create(account) {
      write(() => create.immediate(account));
    },
    async get(id) {
      return run(() => toMaybeRecord(byId.get(id)));
    },
    async findByLogin(login) {
      return run(() => toMaybeRecord(byLogin.get(login)));
    },
    async findByEmail(email) {
      return run(() => toMaybeRecord(byEmail.get(email)));
    },
    async replace(next) {
      return write(() => replace.immediate(next));
    },
    async commitWithConsume(next, consumeKey) {
      try {
        return write(() => commitWithConsume.immediate(next, consumeKey));
      } catch (err) {
        if (err instanceof StaleVersion) return 'conflict';
        throw err;
      }
    },
    async notBefore(id) {
      return run(() => notBeforeOf.get(id)?.not_before);
    },
    async list({ offset, limit }) {
      if (limit <= 0) return [];
      return run(() => page.all(limit, Math.max(0, offset)).map(toRecord));
    },
    async count() {
      // An aggregate always yields one row.
      return run(() => total.get()!.n);
    },
  };
}
