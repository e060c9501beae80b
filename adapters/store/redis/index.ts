/**
 * The Redis / Redis Cluster store: the scale-out backend, shared by any number of stateless
 * rekey processes. Key layout and hash tags: keys.ts; Lua scripts: scripts.ts; connection
 * settings and error mapping: connection.ts.
 */
import type { Clock, Store } from '../../../src/store/types.ts';
import { redisAccounts, type UnconfirmedWrite } from './accounts.ts';
import { connect } from './connection.ts';
import { redisCounters } from './counters.ts';
import { redisEphemeral } from './ephemeral.ts';
import { redisLogs } from './logs.ts';
import { redisOidc } from './oidc.ts';

export { keys, accountTag, ephemeralKey } from './keys.ts';

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL (REDIS_URL); ignored when `clusterNodes` is given. */
  url?: string;
  /** Seed nodes `host:port` (REDIS_CLUSTER_NODES): use Redis Cluster. */
  clusterNodes?: string[];
  /** Prefix of every key (REDIS_KEY_PREFIX). */
  keyPrefix: string;
  clock: Clock;
  /** Per-command timeout; default 2000 ms. */
  commandTimeoutMs?: number;
  /** How long opening waits for Redis to answer; default 3000 ms. */
  connectTimeoutMs?: number;
  /** How long a password change waits for replicas to acknowledge it (WAIT); default 2000 ms. */
  replicaWaitMs?: number;
  /** How many replicas a password change waits for (at most those connected); default 1, 0 never waits. */
  replicasToWait?: number;
  /** A password change stands but its replicas did not confirm it in time. */
  onUnconfirmed?: (info: UnconfirmedWrite) => void;
}

/**
 * Connects and resolves once Redis is ready; rejects with `StoreUnavailable` (naming
 * REDIS_URL or REDIS_CLUSTER_NODES, never the password) when it cannot connect in time. Once
 * open, every call rejects fast with `StoreUnavailable` while Redis is down, and the store
 * recovers by itself when Redis is back.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<Store> {
  const { clock } = options;
  const conn = await connect(options);
  return {
    backend: conn.backend,
    accounts: redisAccounts(conn, clock, {
      ...(options.replicaWaitMs !== undefined ? { replicaWaitMs: options.replicaWaitMs } : {}),
      ...(options.replicasToWait !== undefined ? { replicasToWait: options.replicasToWait } : {}),
      ...(options.onUnconfirmed ? { onUnconfirmed: options.onUnconfirmed } : {}),
    }),
    ephemeral: redisEphemeral(conn, clock),
    counters: redisCounters(conn, clock),
    oidc: redisOidc(conn, clock),
    logs: redisLogs(conn, clock),
    ping: () => conn.ping(),
    close: () => conn.close(),
  };
}
