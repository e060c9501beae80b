/**
 * Entry of the admin CLI `rekey`. Exit codes: 0 success, 1 a failed command or bad usage
 * (`error: <message>` on stderr), 2 bad configuration (the config message alone on stderr).
 */
import { Command } from 'commander';
import { ConfigError, RekeyError } from '../errors.ts';
import { registerUsers } from './commands/users.ts';
import { registerStore } from './commands/store.ts';
import { registerKeys } from './commands/keys.ts';
import { registerAudit } from './commands/audit.ts';
import { registerReport } from './commands/report.ts';
import { CliError } from './runtime.ts';

export function buildProgram(): Command {
  const program = new Command()
    .name('rekey')
    .description(
      'Admin CLI of rekey, the OpenID Connect identity provider for self-service password reset. It reads the same configuration (environment variables and .env) and store as the server.',
    )
    .showHelpAfterError('(add --help for usage)');
  registerUsers(program);
  registerAudit(program);
  registerReport(program);
  registerStore(program);
  registerKeys(program);
  return program;
}

/** Prints the error the way an admin should see it and returns the exit code. */
function report(e: unknown): number {
  const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ');
  if (e instanceof ConfigError) {
    process.stderr.write(`${oneLine(e.message)}\n`);
    return 2;
  }
  if (e instanceof CliError || e instanceof RekeyError) {
    // The admin runs the store: unlike a web visitor, they get the cause of a 5xx.
    const cause = e instanceof RekeyError && !e.expose && e.cause instanceof Error ? ` (${e.cause.message})` : '';
    process.stderr.write(`error: ${oneLine(e.message + cause)}\n`);
    return 1;
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`error: unexpected failure: ${oneLine(message)}\n`);
  if (process.env.REKEY_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return 1;
}

// `rekey users list | head` closes stdout early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
}
