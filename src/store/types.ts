/**
 * The store interface every backend (SQLite, Redis, Redis Cluster) implements and the one
 * contract suite (test/contract/store.contract.ts) checks. The domain depends on this file
 * only.
 *
 * Rules every backend keeps:
 * - Expiry is decided against the stored `expiresAt` and the injected clock, never against
 *   the backend's own time; backend TTLs only collect garbage.
 * - Keys of one account (its record, its counters, its flows) are grouped so multi-key atomic
 *   steps stay on one Redis Cluster slot: callers pass an `accountId` as the group where it
 *   matters; ephemeral keys may carry a `{group}` part for the same reason.
 * - All methods are async and reject with `StoreUnavailable` when the backend is down.
 */

/** Milliseconds since the epoch; the domain's clock. */
export type Clock = () => number;

export type AccountStatus = 'active' | 'disabled';

export interface EmailAddress {
  /** Normalized: trimmed, NFKC, lower-cased. */
  address: string;
  /** True only once the address was proven by a code sent to it. */
  verified: boolean;
}

export interface AccountRecord {
  id: string;
  /** Normalized login name (NFKC, lower-cased, trimmed); unique. */
  login: string;
  /** The first is the primary address. Every address is unique across accounts. */
  emails: EmailAddress[];
  name: string;
  groups: string[];
  admin: boolean;
  status: AccountStatus;
  /** argon2id PHC string, or undefined when no password is set (e.g. imported, not invited). */
  passwordHash?: string;
  /** Previous password hashes, newest first, for the history rule. */
  passwordHistory: string[];
  /** Set for a temporary password: it stops working at this time and must be changed at sign-in. */
  passwordExpiresAt?: number;
  mustChangePassword: boolean;
  /** Every session, grant and token written before this time (ms) is refused. */
  notBefore: number;
  /** Recovery/authentication methods (src/domain/methods/types.ts), opaque to the store. */
  methods: unknown[];
  /**
   * Set when the account's first registration is already vouched for outside the sign-in
   * (an accepted invitation proved the primary address): the bootstrap stage is skipped.
   */
  bootstrapProvenAt?: number;
  /** Devices where the second factor is remembered ("don't ask again on this device"). */
  devices?: RememberedDevice[];
  /** How often the user chose "not now" at registration (policy SSPR_POSTPONE_LIMIT). */
  registrationPostponed?: number;
  createdAt: number;
  updatedAt: number;
  /** Incremented by every successful `replace`; used for optimistic concurrency. */
  version: number;
}

export interface RememberedDevice {
  id: string;
  /** Keyed hash of the secret in the device's cookie. */
  secretHash: string;
  /** Browser and OS, from the user agent, for the list in My security info. */
  label: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt?: number;
}

export interface AccountRepo {
  /** Creates the account; rejects with `Conflict` when the login or an email is taken. */
  create(account: AccountRecord): Promise<void>;
  get(id: string): Promise<AccountRecord | undefined>;
  findByLogin(login: string): Promise<AccountRecord | undefined>;
  findByEmail(email: string): Promise<AccountRecord | undefined>;
  /**
   * Writes `next` if the stored version still equals `next.version`; the stored version becomes
   * `next.version + 1`. Returns false when someone else wrote first (caller re-reads and
   * retries). Rejects with `Conflict` when a changed login/email is taken. Keeps the unique
   * indexes in step. `durable`: a password change acknowledged to the user; on Redis with
   * replicas it resolves only after WAIT (REDIS_WAIT_REPLICAS / REDIS_WAIT_TIMEOUT_MS), so a
   * primary failover cannot undo it.
   */
  replace(next: AccountRecord, options?: { durable?: boolean }): Promise<boolean>;
  /**
   * The password-reset commit, in ONE atomic step on the account's own keys (SQLite: one
   * transaction; Redis: one Lua script on the account's slot): consume the ephemeral record at
   * `consumeKey` (the reset flow, whose key carries the account's `{a:<id>}` tag) and write
   * `next` if the stored version still equals `next.version` (then version + 1). Either both
   * happen or neither. `consumed`: the flow was already used or expired (by the store's clock);
   * `conflict`: the account changed meanwhile. On Redis with replicas the commit is
   * acknowledged only after WAIT confirms a replica has it (or its timeout ran out: the commit
   * stands either way).
   */
  commitWithConsume(next: AccountRecord, consumeKey: string): Promise<'ok' | 'consumed' | 'conflict'>;
  /** `notBefore` alone: the cheap read the revocation check makes on every session/token use. */
  notBefore(id: string): Promise<number | undefined>;
  /** Pages through accounts ordered by login. */
  list(options: { offset: number; limit: number }): Promise<AccountRecord[]>;
  count(): Promise<number>;
}

/** Short-lived JSON records: flows, challenges, interaction stage state. */
export interface EphemeralStore {
  put(key: string, value: unknown, expiresAt: number): Promise<void>;
  /** The value, or undefined when missing or `expiresAt` has passed. */
  get<T>(key: string): Promise<T | undefined>;
  /** Atomically reads and deletes: of concurrent callers exactly one gets the value. */
  consume<T>(key: string): Promise<T | undefined>;
  delete(key: string): Promise<void>;
  /**
   * Leases: a short lock with an owner, stored as the record `owner` at `key`. A holder keeps
   * it by renewing it before `expiresAt`; a holder that dies stops renewing, and its lease
   * ends by itself. `acquireLease` takes it when no live record is at `key` (true when taken);
   * `renewLease` moves the end of a live lease `owner` holds (false when it ended or another
   * took it); `releaseLease` frees it when `owner` holds it, else changes nothing.
   */
  acquireLease(key: string, owner: string, expiresAt: number): Promise<boolean>;
  renewLease(key: string, owner: string, expiresAt: number): Promise<boolean>;
  releaseLease(key: string, owner: string): Promise<void>;
  /**
   * `acquireLease(leaseKey, …)` and `get(key)` in one step (on Redis one script: both keys carry
   * the same `{group}`): the record is read whether or not the lease was taken, after the
   * attempt.
   */
  acquireLeaseAndGet<T>(leaseKey: string, owner: string, expiresAt: number, key: string): Promise<{ taken: boolean; value: T | undefined }>;
  /**
   * `put(key, value, expiresAt)` and then `releaseLease(leaseKey, owner)` in one step (on Redis
   * one script: both keys carry the same `{group}`). The record is written even when `owner`
   * no longer holds the lease, as `put` would.
   */
  putAndReleaseLease(key: string, value: unknown, expiresAt: number, leaseKey: string, owner: string): Promise<void>;
}

export interface CounterState {
  count: number;
  /** When the window ends (ms). */
  resetAt: number;
}

/** Atomic counters with a fixed window that starts at the first hit. */
export interface CounterStore {
  /** Adds `by` (default 1) and returns the new state; starts a new window when the old one ended. */
  hit(key: string, windowMs: number, by?: number): Promise<CounterState>;
  get(key: string): Promise<CounterState | undefined>;
  reset(key: string): Promise<void>;
}

/** oidc-provider model names stored through the adapter. */
export type OidcModelName = string;

export interface OidcRecord {
  payload: Record<string, unknown>;
  /** When this id was first written (ms): compared against the account's `notBefore`. */
  createdAt: number;
}

export interface OidcIndexes {
  accountId?: string;
  grantId?: string;
  uid?: string;
  userCode?: string;
}

export interface OidcModelStore {
  /** Writes the payload; a re-upsert of the same id keeps its first `createdAt`. */
  upsert(model: OidcModelName, id: string, payload: Record<string, unknown>, expiresAt: number, indexes: OidcIndexes): Promise<void>;
  find(model: OidcModelName, id: string): Promise<OidcRecord | undefined>;
  findByUid(model: OidcModelName, uid: string): Promise<OidcRecord | undefined>;
  findByUserCode(model: OidcModelName, userCode: string): Promise<OidcRecord | undefined>;
  /** Marks the record consumed (`payload.consumed = epoch seconds`). */
  consume(model: OidcModelName, id: string): Promise<void>;
  destroy(model: OidcModelName, id: string): Promise<void>;
  /** Destroys every record (any model) carrying this grantId. */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Destroys every record (any model) carrying this accountId; returns how many. */
  revokeByAccount(accountId: string): Promise<number>;
  /** Counts live records of one model for an account (e.g. sessions), for tests and the CLI. */
  countByAccount(model: OidcModelName, accountId: string): Promise<number>;
  /**
   * The payloads of the live records of one model for an account (e.g. its sessions, read
   * before `revokeByAccount` to tell relying parties by back-channel logout), in no particular
   * order. Expiry by the injected clock, as for `find`; a consumed record carries `consumed`.
   */
  listByAccount(model: OidcModelName, accountId: string): Promise<Record<string, unknown>[]>;
}

export interface LogEntry {
  /** Assigned by the store, increasing within a stream. */
  seq?: number;
  at: number;
  [field: string]: unknown;
}

/** Where a page of a log listing continues: the last entry (its `at` and `seq`) of the previous page. */
export interface LogCursor {
  at: number;
  seq: number;
}

export interface LogListOptions {
  limit: number;
  /** Only entries with `at >= since`. */
  since?: number;
  /** Only entries with `at < until`. */
  until?: number;
  /** Only entries that come after this one in the listing's order (older ones): the next page. */
  olderThan?: LogCursor;
}

/** Append-only streams: the audit trail and the dev outbox. */
export interface LogStore {
  append(stream: string, entry: LogEntry, retainUntil: number): Promise<void>;
  /** Newest first: by `at`, then by `seq`, both descending. */
  list(stream: string, options: LogListOptions): Promise<LogEntry[]>;
}

export interface Store {
  readonly backend: 'sqlite' | 'redis' | 'redis-cluster';
  readonly accounts: AccountRepo;
  readonly ephemeral: EphemeralStore;
  readonly counters: CounterStore;
  readonly oidc: OidcModelStore;
  readonly logs: LogStore;
  /** Resolves when the backend answers; rejects with `StoreUnavailable` otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
