/** Picks the store backend from config: SQLite by default, Redis / Redis Cluster when configured. */
import { join } from 'node:path';
import type { Config } from '../../src/config/load.ts';
import type { Logger } from '../../src/log.ts';
import type { Clock, Store } from '../../src/store/types.ts';
import { openRedisStore } from './redis/index.ts';
import { openSqliteStore } from './sqlite/index.ts';

export async function openStore(config: Config, clock: Clock, log?: Logger): Promise<Store> {
  if (config.REDIS_URL || config.REDIS_CLUSTER_NODES) {
    // Config refuses both at once; the cluster nodes win if that ever changes.
    return openRedisStore({
      ...(config.REDIS_CLUSTER_NODES ? { clusterNodes: config.REDIS_CLUSTER_NODES } : { url: config.REDIS_URL }),
      keyPrefix: config.REDIS_KEY_PREFIX,
      clock,
      replicasToWait: config.REDIS_WAIT_REPLICAS,
      replicaWaitMs: config.REDIS_WAIT_TIMEOUT_MS,
      // The change stands on the primary; a failover before its replicas catch up would lose it.
      onUnconfirmed: (info) => log?.warn({ event: 'replica_wait_timeout', ...info }, 'a password change is not confirmed by a replica'),
    });
  }
  return openSqliteStore({ file: sqliteFile(config), clock });
}

/** Where the embedded store lives: one file in DATA_DIR. */
export function sqliteFile(config: Pick<Config, 'DATA_DIR'>): string {
  return join(config.DATA_DIR, 'rekey.sqlite');
}
