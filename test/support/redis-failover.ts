/**
 * A Redis Cluster with replicas for failover tests: three primaries and three replicas
 * (`redis-cli --cluster create … --cluster-replicas 1`) on free ports, data dirs in one tmp
 * folder, a short node timeout so a dead primary is replaced within a few seconds.
 *
 *     const cluster = await startReplicatedCluster();
 *     const port = await cluster.primaryOf(slot);
 *     await cluster.kill(port);                      // SIGKILL (or 'segfault', 'shutdown')
 *     const { primary } = await cluster.waitForFailover(slot, port);
 *     await cluster.restart(port);                   // rejoins as a replica of `primary`
 *     await cluster.stop();                          // from an `after` hook, even on failure
 *
 * Every node is a child of this process: the exit hook of redis.ts kills whatever a failed
 * suite left running, and `stop()` removes the tmp folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { answersPing, clusterInfo, clusterPort, startRedisServer, type RedisProcess } from './redis.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One line of CLUSTER NODES. */
export interface ClusterNode {
  id: string;
  port: number;
  flags: string[];
  /** The primary's id for a replica, '-' for a primary. */
  master: string;
  /** Slot ranges served (primaries only). */
  slots: [number, number][];
}

export function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      const port = Number(/:(\d+)@/.exec(address!)?.[1] ?? /:(\d+)$/.exec(address!)?.[1]);
      return {
        id: id!,
        port,
        flags: flags!.split(','),
        master: master!,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [a, b] = s.split('-');
            return [Number(a), Number(b ?? a)] as [number, number];
          }),
      };
    });
}

export type KillHow = 'sigkill' | 'segfault' | 'shutdown';

export interface ReplicatedCluster {
  /** Seed nodes `127.0.0.1:<port>`, all six (REDIS_CLUSTER_NODES). */
  nodes: string[];
  ports: number[];
  /** CLUSTER NODES as seen by a live node. */
  topology(): Promise<ClusterNode[]>;
  /** The port of the primary serving `slot` now. */
  primaryOf(slot: number): Promise<number>;
  /** Kills the node on `port`: SIGKILL (default), `DEBUG SEGFAULT` or `SHUTDOWN NOSAVE`; resolves once it is gone. */
  kill(port: number, how?: KillHow): Promise<void>;
  /**
   * Waits until a node other than `oldPrimary` serves `slot` as primary and every live node
   * says `cluster_state:ok`; returns the new primary's port and how long it took.
   */
  waitForFailover(slot: number, oldPrimary: number, timeoutMs?: number): Promise<{ primary: number; ms: number }>;
  /** Starts a killed node again on its port with its old cluster config: it rejoins as a replica. */
  restart(port: number): Promise<void>;
  /** Freezes the node (SIGSTOP): it keeps its sockets but answers nothing, like a stalled host. */
  pause(port: number): void;
  /** Lets a paused node run again (SIGCONT). */
  resume(port: number): void;
  /** The ports of the nodes not running now (killed and not restarted). */
  down(): number[];
  /** Every node up, `cluster_state:ok` everywhere, every primary with a synced replica. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** A short-lived plain connection to one node (callers disconnect it). */
  connectTo(port: number): Redis;
  stop(): Promise<void>;
}

/** How long a node may be silent before the others call it failed (cluster-node-timeout). */
export const NODE_TIMEOUT_MS = 1000;

export async function startReplicatedCluster(): Promise<ReplicatedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-redis-failover-'));
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) {
    const p = await clusterPort(taken);
    taken.add(p);
    ports.push(p);
  }
  const processes = new Map<number, RedisProcess>();
  const startNode = async (port: number): Promise<void> => {
    processes.set(
      port,
      await startRedisServer({
        port,
        dir,
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
          // A replica takes over however long it was out of touch: these tests want a failover.
          '--cluster-replica-validity-factor', '0',
          '--enable-debug-command', 'yes',
          '--dbfilename', `dump-${port}.rdb`,
          '--logfile', join(dir, `redis-${port}.log`),
        ],
      }),
    );
  };
  const connectTo = (port: number): Redis => {
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 2000 });
    c.on('error', () => {});
    return c;
  };
  const ask = async <T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> => {
    const c = connectTo(port);
    try {
      return await fn(c);
    } finally {
      c.disconnect();
    }
  };
  const live = (): number[] => ports.filter((p) => processes.has(p));

  const topology = async (): Promise<ClusterNode[]> => {
    let last: unknown;
    for (const port of live()) {
      try {
        return parseClusterNodes(await ask(port, (c) => c.call('CLUSTER', 'NODES') as Promise<string>));
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no live node answers CLUSTER NODES: ${(last as Error | undefined)?.message ?? 'none running'}`);
  };

  const servesSlot = (n: ClusterNode, slot: number): boolean => n.slots.some(([a, b]) => slot >= a && slot <= b);

  const primaryOf = async (slot: number): Promise<number> => {
    const node = (await topology()).find((n) => n.flags.includes('master') && !n.flags.includes('fail') && servesSlot(n, slot));
    if (!node) throw new Error(`no primary serves slot ${slot}`);
    return node.port;
  };

  const allOk = async (): Promise<boolean> => {
    const infos = await Promise.all(live().map((p) => clusterInfo(p).catch(() => '')));
    return infos.every((i) => i.includes('cluster_state:ok'));
  };

  const waitHealthy = async (timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let why = '';
    for (;;) {
      try {
        if (live().length === ports.length && (await allOk())) {
          const nodes = (await topology()).filter((n) => !n.flags.includes('fail') && !n.flags.includes('noaddr'));
          const primaries = nodes.filter((n) => n.flags.includes('master') && n.slots.length > 0);
          const replicas = nodes.filter((n) => n.flags.includes('slave'));
          const synced = await Promise.all(
            replicas.map((r) => ask(r.port, (c) => c.info('replication')).then((i) => /master_link_status:up/.test(i)).catch(() => false)),
          );
          if (primaries.length === 3 && primaries.every((p) => replicas.some((r) => r.master === p.id)) && synced.every(Boolean)) return;
          why = `${primaries.length} primaries, ${replicas.length} replicas, synced ${synced.filter(Boolean).length}`;
        } else {
          why = 'cluster_state not ok everywhere';
        }
      } catch (err) {
        why = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`the replicated cluster did not become healthy within ${timeoutMs} ms (${why})`);
      await sleep(100);
    }
  };

  const kill = async (port: number, how: KillHow = 'sigkill'): Promise<void> => {
    const proc = processes.get(port);
    if (!proc) throw new Error(`node ${port} is not running`);
    if (how === 'sigkill') {
      process.kill(proc.pid, 'SIGKILL');
    } else {
      // Both make the server go away without answering; the connection error is expected.
      await ask(port, (c) => (how === 'segfault' ? c.call('DEBUG', 'SEGFAULT') : c.call('SHUTDOWN', 'NOSAVE'))).catch(() => undefined);
    }
    const deadline = Date.now() + 10_000;
    while (await answersPing('127.0.0.1', port, 200)) {
      if (Date.now() > deadline) throw new Error(`node ${port} still answers after ${how}`);
      await sleep(20);
    }
    // Reaps the process (and SIGKILLs it if a segfault handler is still writing its report).
    await proc.stop();
    processes.delete(port);
  };

  const waitForFailover = async (slot: number, oldPrimary: number, timeoutMs = 20_000): Promise<{ primary: number; ms: number }> => {
    const started = Date.now();
    let why = '';
    for (;;) {
      try {
        const primary = await primaryOf(slot);
        if (primary !== oldPrimary && (await allOk())) return { primary, ms: Date.now() - started };
        why = primary === oldPrimary ? `slot ${slot} still on ${oldPrimary}` : 'cluster_state not ok everywhere';
      } catch (err) {
        why = (err as Error).message;
      }
      if (Date.now() - started > timeoutMs) throw new Error(`no failover of slot ${slot} within ${timeoutMs} ms (${why})`);
      await sleep(50);
    }
  };

  const paused = new Set<number>();
  const pause = (port: number): void => {
    const proc = processes.get(port);
    if (!proc) throw new Error(`node ${port} is not running`);
    process.kill(proc.pid, 'SIGSTOP');
    paused.add(port);
  };
  const resume = (port: number): void => {
    const proc = processes.get(port);
    if (proc && paused.delete(port)) process.kill(proc.pid, 'SIGCONT');
  };

  const stop = async (): Promise<void> => {
    // A stopped process ignores SIGTERM until it runs again.
    for (const port of [...paused]) resume(port);
    await Promise.all([...processes.values()].map((p) => p.stop().catch(() => undefined)));
    processes.clear();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const port of ports) await startNode(port);
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (create.error !== undefined || create.status !== 0) {
      throw new Error(`redis-cli --cluster create --cluster-replicas 1 failed: ${create.error?.message ?? create.stdout + create.stderr}`);
    }
    await waitHealthy();
    return {
      nodes,
      ports,
      topology,
      primaryOf,
      kill,
      waitForFailover,
      restart: startNode,
      pause,
      resume,
      down: () => ports.filter((p) => !processes.has(p)),
      waitHealthy,
      connectTo,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
