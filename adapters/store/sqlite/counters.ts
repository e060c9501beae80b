import type { Clock, CounterState, CounterStore } from '../../../src/store/types.ts';
import { runner, SWEEP_BATCH, SWEEP_INTERVAL_MS, throttled, type Db } from './db.ts';

interface CounterRow {
  count: number;
  reset_at: number;
}

function toState(row: CounterRow): CounterState {
  return { count: row.count, resetAt: row.reset_at };
}

export function sqliteCounters(db: Db, clock: Clock): CounterStore {
  const run = runner(db);
  // One statement decides "new window or add" and writes it, so concurrent hits cannot lose
  // an increment. The SET expressions all see the row as it was before this update.
  const hit = db.prepare<{ key: string; by: number; now: number; resetAt: number }, CounterRow>(
    `INSERT INTO counters (key, count, reset_at) VALUES (@key, @by, @resetAt)
     ON CONFLICT (key) DO UPDATE SET
       count = CASE WHEN counters.reset_at <= @now THEN excluded.count ELSE counters.count + excluded.count END,
       reset_at = CASE WHEN counters.reset_at <= @now THEN excluded.reset_at ELSE counters.reset_at END
     RETURNING count, reset_at`,
  );
  const read = db.prepare<[string, number], CounterRow>(
    'SELECT count, reset_at FROM counters WHERE key = ? AND reset_at > ?',
  );
  const remove = db.prepare<[string]>('DELETE FROM counters WHERE key = ?');
  const collect = db.prepare<[number, number]>(
    'DELETE FROM counters WHERE rowid IN (SELECT rowid FROM counters WHERE reset_at <= ? LIMIT ?)',
  );
  const sweep = throttled(clock, SWEEP_INTERVAL_MS, (now) => collect.run(now, SWEEP_BATCH));

  return {
    async hit(key, windowMs, by = 1) {
      return run(() => {
        const now = clock();
        // An upsert with RETURNING always yields the row it wrote.
        const row = hit.get({ key, by, now, resetAt: now + windowMs })!;
        sweep();
        return toState(row);
      });
    },
    async get(key) {
      return run(() => {
        const row = read.get(key, clock());
        return row === undefined ? undefined : toState(row);
      });
    },
    async reset(key) {
      run(() => remove.run(key));
    },
  };
}
