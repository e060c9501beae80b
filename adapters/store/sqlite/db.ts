import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreUnavailable } from '../../../src/errors.ts';

export type Db = Database.Database;

/** How long a writer waits for another process (server vs. CLI) to release the file lock. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Result codes (and their extended `_X` variants) after which the database cannot serve the
 * request: retrying later or fixing the disk helps, the caller's input does not.
 */
const UNUSABLE_CODES = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_FULL',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_READONLY',
  'SQLITE_PROTOCOL',
  'SQLITE_NOMEM',
  'SQLITE_PERM',
];

function isUnusable(err: unknown): boolean {
  if (!(err instanceof Database.SqliteError)) return false;
  return UNUSABLE_CODES.some((code) => err.code === code || err.code.startsWith(`${code}_`));
}

/** Turns "the database cannot be used" failures into `StoreUnavailable`; others pass through. */
export function translate(db: Db | undefined, err: unknown): unknown {
  // A closed handle makes better-sqlite3 throw a plain TypeError, so the handle state decides.
  if (isUnusable(err) || (db !== undefined && !db.open)) {
    const wrapped = new StoreUnavailable();
    // Kept for the logs: the 503 the user sees hides it.
    wrapped.cause = err;
    return wrapped;
  }
  return err;
}

export type Runner = <T>(fn: () => T) => T;

/** Every store call goes through this so failures surface as `StoreUnavailable`. */
export function runner(db: Db): Runner {
  return (fn) => {
    try {
      return fn();
    } catch (err) {
      throw translate(db, err);
    }
  };
}

/**
 * Opens the file with the settings that let the server and a CLI process share it: WAL so a
 * reader never blocks the writer, and a busy timeout so a writer waits for the other process
 * instead of failing at once.
 */
export function openDatabase(file: string): Db {
  const inMemory = file === ':memory:' || file === '';
  if (!inMemory) mkdirSync(dirname(file), { recursive: true });
  let db: Db | undefined;
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable across application crashes in WAL mode; only a power loss may drop the
    // last commits, which for this data (flows, counters, sessions) is an acceptable trade.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    db?.close();
    throw translate(undefined, err);
  }
}

/**
 * Runs `sweep` at most once per `intervalMs` of the injected clock. Expired rows are already
 * invisible to reads, so collecting them is only about disk space and can lag behind.
 */
export function throttled(clock: () => number, intervalMs: number, sweep: (now: number) => void): () => void {
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    const now = clock();
    if (now - last < intervalMs) return;
    last = now;
    sweep(now);
  };
}

/** Clock time between garbage collections of one table. */
export const SWEEP_INTERVAL_MS = 60_000;

/**
 * Rows deleted per sweep: the sweep runs inside a caller's write, so it is bounded to keep
 * that write fast; a backlog drains over the following sweeps.
 */
export const SWEEP_BATCH = 500;
