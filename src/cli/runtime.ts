/**
 * What every CLI command shares: lazy services (so `--help` works without a valid config or
 * a store), the error kinds the entry point maps to exit codes, and stdout writing.
 */
import type { Services } from '../services.ts';

/** A usage problem found by the CLI itself; printed as `error: <message>`, exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Writes lines to stdout. */
export function out(...lines: string[]): void {
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
}

/**
 * Wraps a command action: loads the configuration, opens the services, runs the action and
 * always closes the services. Commander passes the action's arguments through. The domain is
 * imported here, not at start-up, so `--help` stays quick. Every audit event the action
 * records carries `actor: cli`.
 */
export function withServices<A extends unknown[]>(
  action: (services: Services, ...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const { loadConfig } = await import('../config/load.ts');
    const { createServices } = await import('../services.ts');
    const { createLogger } = await import('../log.ts');
    const config = loadConfig();
    // Logs go to stderr so stdout stays the command's own output (tables, JSON).
    const services = await createServices(config, { log: createLogger(config.LOG_LEVEL, 2) });
    const { withAuditScope } = await import('../domain/audit.ts');
    try {
      await withAuditScope({ actor: 'cli' }, () => action(services, ...args));
    } finally {
      await services.close();
    }
  };
}

/**
 * Reads the first line of stdin (trailing CR/LF stripped) without waiting for the pipe to
 * close. Refuses a terminal, where the password would be echoed.
 */
export async function readFirstLine(stdin: NodeJS.ReadStream = process.stdin, maxBytes = 64 * 1024): Promise<string> {
  if (stdin.isTTY) {
    throw new CliError(`--password-stdin reads the password from a pipe, e.g. printf '%s\\n' "$PASSWORD" | rekey users create ...`);
  }
  const line = await new Promise<string | undefined>((resolve, reject) => {
    let buf = '';
    const done = (value: string | undefined, err?: Error): void => {
      stdin.off('data', onData).off('end', onEnd).off('error', onError);
      stdin.pause();
      stdin.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
      else if (buf.length > maxBytes) done(undefined, new CliError('the first line on stdin is too long'));
    };
    const onEnd = (): void => done(buf.length > 0 ? buf : undefined);
    const onError = (e: Error): void => done(undefined, e);
    stdin.setEncoding('utf8');
    stdin.on('data', onData).on('end', onEnd).on('error', onError);
  });
  if (line === undefined) throw new CliError('--password-stdin: nothing to read on stdin; nothing was created');
  return line.replace(/\r$/, '');
}
