/** JSON logs (pino). Secrets never reach a log line: the fields that could carry them are redacted. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** `fd` 2 for the CLI, whose stdout is its own output. */
export function createLogger(level: string, fd: 1 | 2 = 1): Logger {
  const options = {
    level,
    base: { service: 'rekey' },
    redact: {
      paths: ['password', '*.password', 'code', '*.code', 'token', '*.token', 'secret', '*.secret', 'req.headers.cookie', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  return pino(options, pino.destination({ fd, sync: true }));
}
