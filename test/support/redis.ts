/**
 * Real Redis for tests: a standalone server and a 3-node Redis Cluster, each started at most
 * once per test process and shared (memoized), stopped at process exit or by
 * `stopRedisHarness()` (suites may call it from an `after` hook).
 *
 * - `redisServer()`: REDIS_URL if set; else a Redis on 127.0.0.1:6379 if it answers PING;
 *   else a `redis-server` started on a free port.
 * - `redisCluster()`: REDIS_CLUSTER_NODES if set; else three `redis-server --cluster-enabled
 *   yes` on free ports joined with `redis-cli --cluster create`.
 *
 * A shared Redis is never flushed: every test works under its own key prefix
 * (`testKeyPrefix()`), and `deletePrefixed` removes only keys under it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';

const MISSING = 'redis-server is missing: apt-get install -y redis-server';

/** A unique key prefix for one test (or one run). */
export function testKeyPrefix(): string {
  return `rekey-test:${randomBytes(6).toString('hex')}:`;
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Sends a raw PING; true when `+PONG` comes back within `timeoutMs`. */
export function answersPing(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let reply = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

function assertRedisInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error !== undefined) throw new Error(MISSING);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every child this module started, killed at exit whatever happened. */
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

export interface RedisProcess {
  port: number;
  pid: number;
  url: string;
  /** SIGTERM, then waits for the process to end. */
  stop(): Promise<void>;
}

/**
 * Starts a private `redis-server` (no persistence) and waits until it answers PING. Used by
 * the shared harness and by tests that stop and restart Redis themselves.
 */
export async function startRedisServer(options: { port?: number; args?: string[]; dir?: string } = {}): Promise<RedisProcess> {
  assertRedisInstalled();
  installExitHook();
  const port = options.port ?? (await freePort());
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', options.dir ?? tmpdir(),
    ...(options.args ?? []),
  ];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  children.add(child);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      children.delete(child);
      resolve();
    });
    child.once('error', () => {
      exited = true;
      children.delete(child);
      resolve();
    });
  });
  const deadline = Date.now() + 10_000;
  while (!(await answersPing('127.0.0.1', port, 300))) {
    if (exited) throw new Error(`redis-server on port ${port} exited at start-up`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
    }
    await sleep(50);
  }
  return {
    port,
    pid: child.pid!,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

export interface SharedRedis {
  url: string;
  /** True when this harness started the server (nobody else writes to it). */
  owned: boolean;
  stop(): Promise<void>;
}

let server: Promise<SharedRedis> | undefined;

async function resolveServer(): Promise<SharedRedis> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) return { url: fromEnv, owned: false, stop: async () => {} };
  if (await answersPing('127.0.0.1', 6379, 500)) {
    return { url: 'redis://127.0.0.1:6379', owned: false, stop: async () => {} };
  }
  const started = await startRedisServer();
  return { url: started.url, owned: true, stop: () => started.stop() };
}

/** The shared standalone Redis of this test process. */
export function redisServer(): Promise<SharedRedis> {
  server ??= resolveServer().catch((err: unknown) => {
    server = undefined;
    throw err;
  });
  return server;
}

export interface SharedCluster {
  nodes: string[];
  owned: boolean;
  stop(): Promise<void>;
}

let cluster: Promise<SharedCluster> | undefined;

/** A port p with p + 10000 (the cluster bus port) free as well. */
export async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20_000 + Math.floor(Math.random() * 25_000);
    if (taken.has(p)) continue;
    if ((await portIsFree(p)) && (await portIsFree(p + 10_000))) return p;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

/** `CLUSTER INFO` of the node on `port` (one short-lived connection). */
export function clusterInfo(port: number): Promise<string> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  return client
    .connect()
    .then(() => client.call('CLUSTER', 'INFO') as Promise<string>)
    .finally(() => client.disconnect());
}

export interface PrivateCluster extends SharedCluster {
  /** Stops node i (SIGTERM); its cluster config stays, so `startNode(i)` brings it back as it was. */
  stopNode(i: number): Promise<void>;
  startNode(i: number): Promise<void>;
}

/**
 * Starts a 3-node Redis Cluster of its own (no replicas), for the shared harness or for a
 * test that stops nodes.
 */
export async function startRedisCluster(): Promise<PrivateCluster> {
  assertRedisInstalled();
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'rekey-redis-cluster-'));
  tempDirs.add(dir);
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const p = await clusterPort(taken);
    taken.add(p);
    ports.push(p);
  }
  const processes: (RedisProcess | undefined)[] = [];
  const startNode = async (i: number): Promise<void> => {
    const port = ports[i]!;
    processes[i] = await startRedisServer({
      port,
      dir,
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'],
    });
  };
  const stopNode = async (i: number): Promise<void> => {
    await processes[i]?.stop();
    processes[i] = undefined;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(ports.map((_, i) => stopNode(i)));
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  };
  try {
    for (let i = 0; i < ports.length; i++) await startNode(i);
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (create.error !== undefined || create.status !== 0) {
      throw new Error(`redis-cli --cluster create failed: ${create.error?.message ?? create.stdout + create.stderr}`);
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(ports.map((p) => clusterInfo(p).catch(() => '')));
      if (infos.every((i) => i.includes('cluster_state:ok') && i.includes('cluster_known_nodes:3'))) break;
      if (Date.now() > deadline) throw new Error('the test Redis Cluster did not reach cluster_state:ok within 20 s');
      await sleep(100);
    }
    return { nodes, owned: true, stop, stopNode, startNode };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The shared Redis Cluster of this test process. */
export function redisCluster(): Promise<SharedCluster> {
  const fromEnv = process.env.REDIS_CLUSTER_NODES;
  cluster ??= (
    fromEnv
      ? Promise.resolve<SharedCluster>({
          nodes: fromEnv.split(',').map((n) => n.trim()).filter(Boolean),
          owned: false,
          stop: async () => {},
        })
      : startRedisCluster()
  ).catch((err: unknown) => {
    cluster = undefined;
    throw err;
  });
  return cluster;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function parseNode(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(node.slice(at + 1)) };
}

/** Admin connections (no key prefix), one per target, reused across tests. */
const admins = new Map<string, Promise<Redis | Cluster>>();

/** A connection without key prefix to the standalone server or the cluster, for inspection. */
export function adminClient(target: { url: string } | { nodes: string[] }): Promise<Redis | Cluster> {
  const id = 'url' in target ? target.url : target.nodes.join(',');
  let client = admins.get(id);
  if (client === undefined) {
    const c = 'url' in target ? new Redis(target.url, { lazyConnect: true }) : new Cluster(target.nodes.map(parseNode), { lazyConnect: true });
    c.on('error', () => {});
    client = c.connect().then(() => c);
    client.catch(() => admins.delete(id));
    admins.set(id, client);
  }
  return client;
}

/** Closes the admin connection to a target (e.g. before stopping a private server). */
export async function closeAdminClient(target: { url: string } | { nodes: string[] }): Promise<void> {
  const id = 'url' in target ? target.url : target.nodes.join(',');
  const client = admins.get(id);
  admins.delete(id);
  await client?.then((c) => c.disconnect()).catch(() => {});
}

/** Every key on the target (each master of a cluster) matching the glob. */
export async function scanKeys(target: { url: string } | { nodes: string[] }, match = '*'): Promise<string[]> {
  const client = await adminClient(target);
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
  }
  return found;
}

/** Deletes the keys under `prefix` only (SCAN + UNLINK per node); never flushes. */
export async function deletePrefixed(target: { url: string } | { nodes: string[] }, prefix: string): Promise<number> {
  const client = await adminClient(target);
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      // One key per command: in a cluster, keys on one node may still be on different slots.
      if (batch.length > 0) {
        const results = await Promise.all(batch.map((key) => node.unlink(key)));
        deleted += results.reduce((a, b) => a + b, 0);
      }
    } while (cursor !== '0');
  }
  return deleted;
}

/** Stops what this harness started and closes its connections; safe to call twice. */
export async function stopRedisHarness(): Promise<void> {
  const clients = [...admins.values()];
  admins.clear();
  for (const c of clients) await c.then((client) => client.disconnect()).catch(() => {});
  const s = server;
  const c = cluster;
  server = undefined;
  cluster = undefined;
  await Promise.all([s?.then((x) => x.stop()).catch(() => {}), c?.then((x) => x.stop()).catch(() => {})]);
}
