import type { Clock, LogEntry, LogStore } from '../../../src/store/types.ts';
import { runner, SWEEP_BATCH, SWEEP_INTERVAL_MS, throttled, type Db } from './db.ts';

interface LogRow {
  seq: number;
  entry: string;
}

/** Lower than any timestamp, so "no since" needs no second statement. */
const BEGINNING = Number.MIN_SAFE_INTEGER;

export function sqliteLogs(db: Db, clock: Clock): LogStore {
  const run = runner(db);
  const insert = db.prepare<[string, number, string, number]>(
    'INSERT INTO logs (stream, at, entry, retain_until) VALUES (?, ?, ?, ?)',
  );
  const newest = db.prepare<{ stream: string; since: number; now: number; limit: number }, LogRow>(
    `SELECT seq, entry FROM logs
     WHERE stream = @stream AND at >= @since AND retain_until > @now
     ORDER BY seq DESC LIMIT @limit`,
  );
  const collect = db.prepare<[number, number]>(
    'DELETE FROM logs WHERE rowid IN (SELECT rowid FROM logs WHERE retain_until <= ? LIMIT ?)',
  );
  const sweep = throttled(clock, SWEEP_INTERVAL_MS, (now) => collect.run(now, SWEEP_BATCH));

  return {
    async append(stream, entry, retainUntil) {
      run(() => {
        // The store owns seq: a caller-supplied one would contradict the row's.
        const { seq: _ignored, ...rest } = entry;
        insert.run(stream, entry.at, JSON.stringify(rest), retainUntil);
        sweep();
      });
    },
    async list(stream, { limit, since }) {
      // SQLite reads a negative LIMIT as "no limit"; a caller asking for none wants none.
      if (limit <= 0) return [];
      return run(() =>
        newest
          .all({ stream, since: since ?? BEGINNING, now: clock(), limit })
          .map((row): LogEntry => ({ ...(JSON.parse(row.entry) as LogEntry), seq: row.seq })),
      );
    },
  };
}
