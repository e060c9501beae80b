/** Development delivery: messages are kept in the store and read at /dev/outbox. */
import type { MessageSender, OutgoingMessage } from '../../src/domain/messages.ts';
import type { Clock, LogEntry, Store } from '../../src/store/types.ts';

export const OUTBOX_STREAM = 'dev-outbox';
const RETAIN_MS = 7 * 24 * 3600 * 1000;

export class DevOutbox implements MessageSender {
  constructor(private readonly store: Store, private readonly clock: Clock) {}

  async send(message: OutgoingMessage): Promise<void> {
    const at = this.clock();
    await this.store.logs.append(OUTBOX_STREAM, { at, ...message }, at + RETAIN_MS);
  }

  async list(limit = 50): Promise<(LogEntry & OutgoingMessage)[]> {
    return (await this.store.logs.list(OUTBOX_STREAM, { limit })) as (LogEntry & OutgoingMessage)[];
  }
}
