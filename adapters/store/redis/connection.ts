/**
 * The connection to Redis or Redis Cluster, tuned so that an outage surfaces as a fast
 * `StoreUnavailable` instead of requests hanging through retries: no offline queue, a
 * command timeout, one retry per request, and a reconnect loop with backoff that never gives
 * up (so the store works again, without a restart, once Redis is back).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { RekeyError, StoreUnavailable } from '../../../src/errors.ts';
import { defineScripts, type RedisClient } from './scripts.ts';

export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

export interface ConnectOptions {
  url?: string;
  clusterNodes?: string[];
  keyPrefix: string;
  commandTimeoutMs?: number;
  /** How long `openRedisStore` waits for the first ready connection. */
  connectTimeoutMs?: number;
}

/** What every sub-store gets: the client and a runner that maps failures. */
export interface Conn {
  readonly client: RedisClient;
  /**
   * Runs one store operation. Rejects with `StoreUnavailable` when the store is closed, when
   * any Redis call fails (connection closed, timeout, "Stream isn't writeable", CLUSTERDOWN,
   * …), or when the whole operation outlives its deadline; our own errors (`Conflict`) pass.
   */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/** Reconnect delay: 50 ms doubling up to 1 s, forever (a `null` would give up for good). */
export function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(Math.max(times - 1, 0), 5), 1000);
}

export function unavailable(err: unknown, message?: string): RekeyError {
  const wrapped = new StoreUnavailable(message);
  // Kept for the logs: the 503 the user sees hides it.
  wrapped.cause = err;
  return wrapped;
}

/** Parses `host:port` / `[v6]:port` seed nodes. */
function parseNode(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  const host = node.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(node.slice(at + 1)) };
}

/** The URL without credentials, for messages. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function secretsOf(url: string | undefined): string[] {
  if (url === undefined) return [];
  try {
    const u = new URL(url);
    return [u.password, decodeURIComponent(u.password), u.username]
      .filter((s) => s.length >= 3);
  } catch {
    return [];
  }
}

function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

export interface Connection extends Conn {
  readonly backend: 'redis' | 'redis-cluster';
  /**
   * Readiness: Redis answers. On a cluster that means every slot can be served: the cluster
   * says `cluster_state:ok` and the primary of every slot answers, so a dead primary (before
   * and while its replica takes over) is reported, not hidden behind a node that still answers.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects and waits until the client is ready; rejects with `StoreUnavailable` naming
 * REDIS_URL or REDIS_CLUSTER_NODES and the reason (never the password) when that takes longer
 * than `connectTimeoutMs`.
 */
export async function connect(options: ConnectOptions): Promise<Connection> {
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const perConnection = {
    // Also the socket connect timeout: a blackholed host must not stall longer than a command.
    connectTimeout: Math.max(commandTimeout, 500),
    commandTimeout,
    maxRetriesPerRequest: 1,
    enableReadyCheck: true,
  } satisfies RedisOptions;

  let client: RedisClient;
  let setting: string;
  const clusterNodes = options.clusterNodes?.filter((n) => n.trim() !== '') ?? [];
  if (clusterNodes.length > 0) {
    setting = `REDIS_CLUSTER_NODES (${clusterNodes.join(',')})`;
    const clusterOptions: ClusterOptions = {
      keyPrefix: options.keyPrefix,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      clusterRetryStrategy: reconnectDelay,
      redisOptions: perConnection,
      slotsRefreshTimeout: Math.max(commandTimeout, 500),
      // Keep redirect/failover retries well inside one command timeout.
      maxRedirections: 6,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
    };
    client = new Cluster(clusterNodes.map(parseNode), clusterOptions);
  } else if (options.url !== undefined && options.url !== '') {
    setting = `REDIS_URL (${describeUrl(options.url)})`;
    client = new Redis(options.url, {
      ...perConnection,
      keyPrefix: options.keyPrefix,
      enableOfflineQueue: false,
      retryStrategy: reconnectDelay,
    });
  } else {
    throw new StoreUnavailable('REDIS_URL or REDIS_CLUSTER_NODES must be set for the Redis store');
  }

  let lastError: Error | undefined;
  // Without a listener ioredis prints every reconnect failure; the store reports them through
  // StoreUnavailable instead.
  client.on('error', (err: Error) => {
    lastError = err;
  });
  defineScripts(client);

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        reject(new Error(lastError?.message ?? `no answer within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      if (client.status === 'ready') onReady();
      else client.once('ready', onReady);
    });
  } catch (err) {
    client.disconnect();
    const reason = scrub((err as Error).message, secretsOf(options.url));
    throw unavailable(err, `${setting}: cannot connect to Redis within ${connectTimeoutMs} ms: ${reason}`);
  }

  let closed = false;
  // A whole operation is a few round trips; cluster redirects and slot refreshes must not
  // stretch it much past one command timeout.
  const deadlineMs = 2 * commandTimeout + 500;

  async function run<T>(fn: () => Promise<T>): Promise<T> {
    if (closed) throw new StoreUnavailable('The Redis store is closed');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`store operation took longer than ${deadlineMs} ms`)), deadlineMs);
      timer.unref();
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (err) {
      if (err instanceof RekeyError) throw err;
      throw unavailable(err);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    backend: client instanceof Cluster ? 'redis-cluster' : 'redis',
    client,
    run,
    async ping() {
      await run(async () => {
        if (!(client instanceof Cluster)) {
          await client.ping();
          return;
        }
        const info = String(await client.call('CLUSTER', 'INFO'));
        if (!/^cluster_state:ok\b/m.test(info)) throw new Error('cluster_state is not ok');
        const primaries = new Set<string>();
        for (let slot = 0; slot < 16384; slot++) {
          const owner = client.slots[slot]?.[0];
          if (owner === undefined) throw new Error(`slot ${slot} has no primary`);
          primaries.add(owner);
        }
        const connected = new Map(client.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n]));
        try {
          await Promise.all(
            [...primaries].map(async (key) => {
              const node = connected.get(key);
              if (node === undefined) throw new Error(`no connection to the primary ${key}`);
              await node.ping();
            }),
          );
        } catch (err) {
          // The slot map may still name a primary that died and was replaced: ask the cluster
          // again, so the next check (and the next command) goes to the one serving now.
          client.refreshSlotsCache();
          throw err;
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await client.quit();
      } catch {
        // Down or already closing: drop the socket and stop reconnecting.
        client.disconnect();
      }
    },
  };
}
