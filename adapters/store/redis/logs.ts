/**
 * Log streams on Redis: per stream a sorted set scored by `at` whose members are
 * `<seq, 16 digits>|<retainUntil>|<entry JSON>` (the zero-padded seq makes entries with the
 * same `at` sort by seq), and an INCR counter handing out `seq`. Both keys share the stream's
 * tag, so append is one script. Entries whose retention is over are skipped by `list` and
 * removed when met (and a few of the oldest on every append); the set's TTL follows the
 * longest retention.
 */
import type { Clock, LogEntry, LogStore } from '../../../src/store/types.ts';
import type { Conn } from './connection.ts';
import { gcTtl, keys } from './keys.ts';
import { runScript } from './scripts.ts';

function decode(member: string): LogEntry {
  const first = member.indexOf('|');
  const second = member.indexOf('|', first + 1);
  return { ...(JSON.parse(member.slice(second + 1)) as LogEntry), seq: Number(member.slice(0, first)) };
}

export function redisLogs(conn: Conn, clock: Clock): LogStore {
  const { client, run } = conn;
  return {
    async append(stream, entry, retainUntil) {
      await run(async () => {
        const now = clock();
        // The store owns seq: a caller-supplied one would contradict the stored one.
        const { seq: _ignored, ...rest } = entry;
        await runScript(
          client,
          'rekeyLogAppend',
          [keys.logEntries(stream), keys.logSeq(stream)],
          [String(entry.at), String(retainUntil), JSON.stringify(rest), String(now), gcTtl(retainUntil, now)],
        );
      });
    },
    async list(stream, { limit, since, until, olderThan }) {
      if (limit <= 0) return [];
      // The upper bound: `until` (exclusive) or the cursor's time (inclusive, its seq decides), whichever is lower.
      const cursor = olderThan && (until === undefined || olderThan.at < until) ? olderThan : undefined;
      const max = cursor ? String(cursor.at) : until !== undefined ? `(${until}` : '+inf';
      return run(async () => {
        const members = await runScript<string[]>(
          client,
          'rekeyLogList',
          [keys.logEntries(stream)],
          [
            String(clock()),
            since === undefined ? '-inf' : String(since),
            max,
            Number.isFinite(limit) ? Math.floor(limit) : 2 ** 31,
            cursor ? String(cursor.at) : '',
            cursor ? String(cursor.seq) : '',
          ],
        );
        return members.map(decode);
      });
    },
  };
}
