import type { Clock, LogEntry, LogStore } from '../../../src/store/types.ts';
import { runner, SWEEP_BATCH, SWEEP_INTERVAL_MS, throttled, type Db } from './db.ts';

interface LogRow {
  seq: number;
  entry: string;
}

/** Lower and higher than any timestamp or seq, so absent bounds need no other statement. */
const BEGINNING = Number.MIN_SAFE_INTEGER;
const END = Number.MAX_SAFE_INTEGER;

export function sqliteLogs(db: Db, clock: Clock): LogStore {
  const run = runner(db);
  const insert = db.prepare<[string, number, string, number]>(
    'INSERT INTO logs (stream, at, entry, retain_until) VALUES (?, ?, ?, ?)',
  );
  const newest = db.prepare<
    { stream: string; since: number; until: number; cursorAt: number; cursorSeq: number; now: number; limit: number },
    LogRow
  >(
    `SELECT seq, entry FROM logs
     WHERE stream = @stream AND at >= @since AND at < @until AND retain_until > @now
       AND (at < @cursorAt OR (at = @cursorAt AND seq < @cursorSeq))
     ORDER BY at DESC, seq DESC LIMIT @limit`,
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
    async list(stream, { limit, since, until, olderThan }) {
      // SQLite reads a negative LIMIT as "no limit"; a caller asking for none wants none.
      if (limit <= 0) return [];
      const bounds = { since: since ?? BEGINNING, until: until ?? END, cursorAt: olderThan?.at ?? END, cursorSeq: olderThan?.seq ?? END };
      return run(() =>
        newest
          .all({ stream, ...bounds, now: clock(), limit: Number.isFinite(limit) ? Math.floor(limit) : -1 })
          .map((row): LogEntry => ({ ...(JSON.parse(row.entry) as LogEntry), seq: row.seq })),
      );
    },
  };
}
