/**
 * Everything a test app's store holds, as text: the SQLite file and its WAL, or every Redis key
 * and value under the app's prefix. Tests search it for secrets that must never rest in clear.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminClient, scanKeys } from './redis.ts';
import type { TestApp } from './test-app.ts';

export async function rawStore(t: TestApp): Promise<string> {
  if (t.backend === 'sqlite') {
    // The WAL holds the latest pages until a checkpoint; read both.
    const base = join(t.dataDir, 'rekey.sqlite');
    return [base, `${base}-wal`]
      .map((f) => {
        try {
          return readFileSync(f, { encoding: 'latin1', flag: 'r' });
        } catch {
          return '';
        }
      })
      .join('\n');
  }
  const config = t.services.config;
  const target = config.REDIS_URL ? { url: config.REDIS_URL } : { nodes: config.REDIS_CLUSTER_NODES! };
  const keys = await scanKeys(target, `${config.REDIS_KEY_PREFIX}*`);
  const client = await adminClient(target);
  const values: string[] = [];
  for (const key of keys) {
    const type = await client.type(key);
    if (type === 'string') values.push(String(await client.get(key)));
    else if (type === 'hash') values.push(JSON.stringify(await client.hgetall(key)));
    else if (type === 'set') values.push(JSON.stringify(await client.smembers(key)));
    else if (type === 'zset') values.push(JSON.stringify(await client.zrange(key, 0, -1)));
  }
  return `${keys.join('\n')}\n${values.join('\n')}`;
}
