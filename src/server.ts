/**
 * `npm start`: load config, build services and app, listen, stop gracefully on SIGTERM. With
 * WEB_CONCURRENCY above 1 this process is the primary of that many workers (node:cluster)
 * sharing the port and the store.
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { loadConfig, type Config } from './config/load.ts';
import { createServices } from './services.ts';
import { buildApp } from './app.ts';
import { ConfigError } from './errors.ts';
import { loadClientsFile } from './provider/clients.ts';
import { seedDemoUsers } from './demo-users.ts';

/**
 * The primary of WEB_CONCURRENCY workers: it prepares what the workers would otherwise race
 * for (the SQLite schema, development keys written into DATA_DIR, the demo users), then forks
 * them, replaces one that dies, and on SIGTERM/SIGINT stops them all before it exits.
 */
async function primary(config: Config): Promise<void> {
  const services = await createServices(config);
  const demoUsers = config.DEMO ? await seedDemoUsers(services.accounts) : [];
  await services.close();
  const alive = new Set<number>();
  const listening = new Set<number>();
  let stopping = false;
  let finalCode = 0;
  let restarts = 0;
  const fork = (): void => {
    if (!stopping) alive.add(cluster.fork().id);
  };
  cluster.on('listening', (worker) => {
    listening.add(worker.id);
    if (listening.size === 1 && config.NODE_ENV !== 'test') {
      console.log(`rekey ${config.NODE_ENV} server at ${config.ISSUER} (${config.WEB_CONCURRENCY} workers)`);
      if (demoUsers.length) {
        console.log(`demo app: ${config.ISSUER}/   dev outbox: ${config.ISSUER}/dev/outbox`);
        for (const u of demoUsers) console.log(`demo user: ${u.login} / ${u.password}`);
      }
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    alive.delete(worker.id);
    if (stopping) {
      if (alive.size === 0) process.exit(finalCode);
      return;
    }
    if (!listening.has(worker.id)) {
      // It never got to serve (the port taken, the store unreachable): another would fail alike.
      console.error(`rekey: a worker could not start (${signal ?? code}); stopping`);
      stop('SIGTERM', code || 1);
      return;
    }
    // A worker that dies while serving is replaced, but not in a tight loop.
    restarts += 1;
    console.error(`rekey: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    setTimeout(fork, Math.min(100 * 2 ** Math.min(restarts, 6), 5000)).unref();
  });
  const stop = (signal: NodeJS.Signals, exitCode = 0): void => {
    if (stopping) return;
    stopping = true;
    finalCode = exitCode;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    setTimeout(() => process.exit(exitCode || 1), 12_000).unref();
    if (alive.size === 0) process.exit(exitCode);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  for (let i = 0; i < config.WEB_CONCURRENCY; i += 1) fork();
}

async function main(): Promise<void> {
  const config = loadConfig();
  // A malformed clients file must stop start-up before anything is written to DATA_DIR.
  loadClientsFile(config.CLIENTS_FILE);
  if (config.WEB_CONCURRENCY > 1 && cluster.isPrimary) return primary(config);
  const services = await createServices(config);
  const app = await buildApp(services);
  const server = createServer(app.callback);
  // Slow clients may not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 20_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, resolve);
  });
  services.log.info({ event: 'started', issuer: config.ISSUER, store: services.store.backend, env: config.NODE_ENV }, 'rekey is listening');
  // Workers leave the banner to their primary.
  if (config.NODE_ENV !== 'test' && cluster.isPrimary) {
    console.log(`rekey ${config.NODE_ENV} server at ${config.ISSUER} (store: ${services.store.backend})`);
    if (app.demoUsers.length) {
      console.log(`demo app: ${config.ISSUER}/   dev outbox: ${config.ISSUER}/dev/outbox`);
      for (const u of app.demoUsers) console.log(`demo user: ${u.login} / ${u.password}`);
    }
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    services.log.info({ event: 'stopping', signal }, 'rekey is stopping');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close(() => {
      void services.close().finally(() => process.exit(0));
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) {
    console.error(`rekey: ${e.message}`);
    process.exit(2);
  }
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    console.error(`rekey: PORT is already in use: ${(e as Error).message}`);
    process.exit(2);
  }
  console.error(`rekey: could not start: ${(e as Error).message}`);
  process.exit(1);
});
