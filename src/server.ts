/** `npm start`: load config, build services and app, listen, stop gracefully on SIGTERM. */
import { createServer } from 'node:http';
import { loadConfig } from './config/load.ts';
import { createServices } from './services.ts';
import { buildApp } from './app.ts';
import { ConfigError } from './errors.ts';
import { loadClientsFile } from './provider/clients.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  // A malformed clients file must stop start-up before anything is written to DATA_DIR.
  loadClientsFile(config.CLIENTS_FILE);
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
  if (config.NODE_ENV !== 'test') {
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
