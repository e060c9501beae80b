/**
 * The audit trail: every security-relevant event (who, what, when, from where, outcome,
 * reason) appended to the store with a retention, and written as a JSON log line. Events
 * never carry secrets: no codes, passwords, answers or tokens.
 */
import type { Logger } from '../log.ts';
import type { Clock, LogEntry, Store } from '../store/types.ts';

export const AUDIT_STREAM = 'audit';

export type AuditOutcome = 'success' | 'failure' | 'blocked';

export interface AuditEvent {
  /** e.g. `signin`, `method.registered`, `method.confirmed`, `code.sent`, `code.failed`, `bootstrap.used`, `admin.user.created`. */
  type: string;
  outcome: AuditOutcome;
  accountId?: string;
  /** Who acted when not the account itself, e.g. `cli`. */
  actor?: string;
  ip?: string;
  userAgent?: string;
  reason?: string;
  /** Non-secret details: method kind, masked destination, channel. */
  details?: Record<string, string | number | boolean>;
}

export type StoredAuditEvent = AuditEvent & LogEntry;

/** Told of every event as it is recorded (metrics count them); must not throw or block. */
export type AuditListener = (event: AuditEvent, at: number) => void;

export class Audit {
  private readonly listeners: AuditListener[] = [];

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly retentionMs: number,
  ) {}

  onRecord(listener: AuditListener): void {
    this.listeners.push(listener);
  }

  /** Never throws: a failing audit write must not undo or block what it records; it is logged instead. */
  async record(event: AuditEvent): Promise<void> {
    const at = this.clock();
    for (const listener of this.listeners) {
      try {
        listener(event, at);
      } catch (err) {
        this.log.error({ event: 'audit_listener_failed', type: event.type, err: (err as Error).message });
      }
    }
    this.log.info({ audit: true, at: new Date(at).toISOString(), ...event }, 'audit');
    try {
      await this.store.logs.append(AUDIT_STREAM, { at, ...event }, at + this.retentionMs);
    } catch (err) {
      this.log.error({ event: 'audit_write_failed', type: event.type, err: (err as Error).message });
    }
  }

  async recent(options: { limit: number; since?: number }): Promise<StoredAuditEvent[]> {
    return (await this.store.logs.list(AUDIT_STREAM, options)) as StoredAuditEvent[];
  }
}
