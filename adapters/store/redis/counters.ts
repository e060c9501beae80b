/**
 * Fixed-window counters on Redis: one hash per key (`n` count, `r` resetAt), updated by one
 * script that decides "new window or add" against the injected clock, so concurrent hits
 * cannot lose an increment. The TTL (resetAt + grace) only collects garbage.
 */
import type { Clock, CounterState, CounterStore } from '../../../src/store/types.ts';
import type { Conn } from './connection.ts';
import { keys, MAX_TTL_MS, TTL_GRACE_MS } from './keys.ts';
import { runScript } from './scripts.ts';

export function redisCounters(conn: Conn, clock: Clock): CounterStore {
  const { client, run } = conn;
  return {
    async hit(key, windowMs, by = 1) {
      return run(async () => {
        const now = clock();
        const [count, resetAt] = await runScript<[string, string]>(
          client,
          'rekeyCounterHit',
          [keys.counter(key)],
          [String(now), String(now + windowMs), String(by), String(TTL_GRACE_MS), String(MAX_TTL_MS)],
        );
        return { count: Number(count), resetAt: Number(resetAt) };
      });
    },
    async get(key) {
      return run(async (): Promise<CounterState | undefined> => {
        const [count, resetAt] = await client.hmget(keys.counter(key), 'n', 'r');
        if (count == null || resetAt == null || Number(resetAt) <= clock()) return undefined;
        return { count: Number(count), resetAt: Number(resetAt) };
      });
    },
    async reset(key) {
      await run(async () => {
        await client.del(keys.counter(key));
      });
    },
  };
}
