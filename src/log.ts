/** JSON logs (pino). Secrets never reach a log line: the fields that could carry them are redacted. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'rekey' },
    redact: {
      paths: ['password', '*.password', 'code', '*.code', 'token', '*.token', 'secret', '*.secret', 'req.headers.cookie', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
