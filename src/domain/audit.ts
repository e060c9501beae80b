/**
 * The audit trail: every security-relevant event (who, what, when, from where, outcome,
 * reason) appended to the store with a retention, and written as a JSON log line. Events
 * never carry secrets: no codes, passwords, answers or tokens.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../log.ts';
import type { Clock, LogCursor, LogEntry, Store } from '../store/types.ts';

export const AUDIT_STREAM = 'audit';

export type AuditOutcome = 'success' | 'failure' | 'blocked';

export interface AuditEvent {
  /** One of the types in docs/audit-events.md, e.g. `signin.password`, `reset.completed`, `admin.user.created`. */
  type: string;
  outcome: AuditOutcome;
  accountId?: string;
  /** Who acted when not the account's owner at a sign-in page: `self` (My security info), `cli`. */
  actor?: string;
  ip?: string;
  userAgent?: string;
  reason?: string;
  /** Non-secret details: `kind` (method), `channel`, `purpose`, `client`, masked destinations. */
  details?: Record<string, string | number | boolean>;
}

export type StoredAuditEvent = AuditEvent & LogEntry;

/**
 * Who and where, for every event recorded inside it: the HTTP layer opens one per request
 * (client IP, User-Agent) and the CLI one per command (`actor: cli`), so no event coming from
 * a request or an admin lacks them. A field the event sets itself wins. `accountId` and
 * `details` are for narrow scopes around one step (e.g. a reset's asynchronous delivery,
 * whose failure is recorded later, for that account and method).
 */
export interface AuditScope {
  ip?: string;
  userAgent?: string;
  actor?: string;
  accountId?: string;
  details?: Record<string, string | number | boolean>;
  /** Events recorded inside are held by this batch until it is flushed (see `withAuditBatch`). */
  batch?: AuditBatch;
}

const scopes = new AsyncLocalStorage<AuditScope>();

/** Runs `fn` with `scope` added to the current one. */
export function withAuditScope<T>(scope: AuditScope, fn: () => T): T {
  const outer = scopes.getStore();
  const details = outer?.details || scope.details ? { ...outer?.details, ...scope.details } : undefined;
  return scopes.run({ ...outer, ...scope, ...(details ? { details } : {}) }, fn);
}

/**
 * Audit events of one step (a reset step, a sign-in request) that go out when the step is done,
 * alongside its last store work (the save of its state with the release of its lease), rather
 * than one round trip each while it runs. `flush` starts their writes (as the step returns or
 * throws); `settled` waits for them (before the step answers). An event recorded after the
 * flush is written at once. Each event keeps the audit scope it was recorded in.
 */
export class AuditBatch {
  private held: AuditEvent[] | undefined = [];
  private readonly writes: Promise<void>[] = [];

  constructor(private readonly audit: Audit) {}

  record(event: AuditEvent): void {
    const scope = scopes.getStore();
    if (this.held) this.held.push(scoped(event, scope));
    else this.writes.push(this.audit.record(event));
  }

  /** Held (by `Audit.record` inside `withAuditBatch`): false once flushed, or for another trail. */
  hold(audit: Audit, event: AuditEvent, scope: AuditScope | undefined): boolean {
    if (!this.held || audit !== this.audit) return false;
    this.held.push(scoped(event, scope));
    return true;
  }

  flush(): void {
    const events = this.held ?? [];
    this.held = undefined;
    for (const event of events) this.writes.push(this.audit.record(event));
  }

  /** Audit.record never rejects. */
  async settled(): Promise<void> {
    await Promise.all(this.writes);
  }
}

/**
 * Runs `fn` with every event recorded inside it (through any `Audit.record`) held by `batch`,
 * and flushes the batch as `fn` returns or throws; the caller awaits `batch.settled()`.
 */
export async function withAuditBatch<T>(batch: AuditBatch, fn: () => Promise<T>): Promise<T> {
  try {
    return await withAuditScope({ batch }, fn);
  } finally {
    batch.flush();
  }
}

function scoped(event: AuditEvent, scope: AuditScope | undefined): AuditEvent {
  if (!scope) return event;
  const filled: AuditEvent = { ...event };
  if (filled.accountId === undefined && scope.accountId) filled.accountId = scope.accountId;
  if (filled.actor === undefined && scope.actor) filled.actor = scope.actor;
  if (filled.ip === undefined && scope.ip) filled.ip = scope.ip;
  if (filled.userAgent === undefined && scope.userAgent) filled.userAgent = scope.userAgent;
  if (scope.details) filled.details = { ...scope.details, ...event.details };
  return filled;
}

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
  async record(recorded: AuditEvent): Promise<void> {
    const scope = scopes.getStore();
    if (scope?.batch?.hold(this, recorded, scope)) return;
    const event = scoped(recorded, scope);
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

  /** Every stored event with `since <= at < until`, newest first, read page by page. */
  async *scan(options: { since?: number; until?: number; pageSize?: number } = {}): AsyncGenerator<StoredAuditEvent> {
    const { pageSize = 1000, ...bounds } = options;
    let olderThan: LogCursor | undefined;
    for (;;) {
      const page = (await this.store.logs.list(AUDIT_STREAM, { ...bounds, limit: pageSize, ...(olderThan ? { olderThan } : {}) })) as StoredAuditEvent[];
      yield* page;
      const last = page[page.length - 1];
      if (page.length < pageSize || !last || last.seq === undefined) return;
      olderThan = { at: last.at, seq: last.seq };
    }
  }
}
