/**
 * Accounts: creation, password sign-in with lockout, password changes and admin actions.
 * Everything that changes an account goes through `update`, an optimistic read-modify-write
 * on the record's version, so the server and the CLI can act on one account at once.
 */
import type { AccountRecord, Clock, Store } from '../store/types.ts';
import { Conflict, InvalidInput, NotFound } from '../errors.ts';
import { isValidEmail, isValidLogin, normalizeEmail, normalizeLogin } from './normalize.ts';
import type { PasswordHasher } from './password-hasher.ts';
import type { PasswordProblem, PasswordRules } from './password-rules.ts';
import { accountSubject, type SigninLimits } from './signin-limits.ts';
import { accountId, generateTemporaryPassword, type Hmac } from './secrets.ts';
import type { LockState } from './signin-limits.ts';
import type { AuditEvent } from './audit.ts';

export interface NewAccount {
  login: string;
  email?: string;
  name?: string;
  groups?: string[];
  admin?: boolean;
  /** A chosen password (checked against the rules); when absent a temporary one is generated. */
  password?: string;
  /** Imported users get no password until invited. */
  noPassword?: boolean;
}

/**
 * Whom a sign-in attempt was about, for the audit trail: the account, or for an identifier
 * that names none a keyed hash of it (never the identifier itself), so repeated attempts on one
 * unknown name can be told apart without revealing it.
 */
export interface SigninTarget {
  accountId?: string;
  identifierHash?: string;
}

/** A failure that locked the account (or the unknown identifier): `soft` for a while, `hard` until an admin unlocks. */
export interface LockStarted {
  lock: 'soft' | 'hard';
  seconds?: number;
}

export type SigninResult =
  | { outcome: 'ok'; account: AccountRecord; mustChangePassword: boolean; failuresBefore?: number }
  | { outcome: 'failed'; reason: 'wrong_credentials' | 'disabled'; target: SigninTarget; lockStarted?: LockStarted }
  | { outcome: 'locked'; hard: boolean; retryAfterSeconds?: number; target: SigninTarget }
  | { outcome: 'ip_throttled'; retryAfterSeconds: number }
  | { outcome: 'temporary_password_expired'; target: SigninTarget };

/** The `lockout.started` audit event of a failure that locked its subject. */
export function lockoutEvent(started: LockStarted, target: SigninTarget, via: 'password' | 'second_factor'): AuditEvent {
  return {
    type: 'lockout.started',
    outcome: 'blocked',
    ...(target.accountId ? { accountId: target.accountId } : {}),
    reason: started.lock,
    details: { via, ...(started.seconds !== undefined ? { seconds: started.seconds } : {}), ...(target.identifierHash ? { identifierHash: target.identifierHash } : {}) },
  };
}

export interface AccountsOptions {
  temporaryPasswordTtlMs: number;
  historySize: number;
}

/** Runs right before an account's sessions, grants and tokens are revoked (back-channel logout); never throws. */
export type BeforeRevoke = (accountId: string) => Promise<void>;

export class Accounts {
  private beforeRevoke: BeforeRevoke | undefined;

  constructor(
    private readonly store: Store,
    private readonly hasher: PasswordHasher,
    readonly rules: PasswordRules,
    private readonly limits: SigninLimits,
    private readonly hmac: Hmac,
    private readonly clock: Clock,
    private readonly opts: AccountsOptions,
    beforeRevoke?: BeforeRevoke,
  ) {
    this.beforeRevoke = beforeRevoke;
  }

  /** Set once the provider exists (it is built after the services). */
  setBeforeRevoke(fn: BeforeRevoke | undefined): void {
    this.beforeRevoke = fn;
  }

  /** Tells the relying parties (before the records go), then deletes the account's records; returns how many. */
  private async revokeAll(id: string): Promise<number> {
    if (this.beforeRevoke) {
      try {
        await this.beforeRevoke(id);
      } catch {
        // The hook is documented never to throw; the revocation must happen regardless.
      }
    }
    return this.store.oidc.revokeByAccount(id);
  }

  /** Normalizes and checks the fields of a new account, without writing anything. */
  private prepare(input: NewAccount): { login: string; emails: string[]; groups: string[] } {
    const login = normalizeLogin(input.login);
    if (!isValidLogin(login)) {
      throw new InvalidInput(`login "${input.login}" is invalid: 1–64 characters a–z 0–9 . _ @ + -, starting with a letter or digit`);
    }
    const emails = input.email ? [normalizeEmail(input.email)] : [];
    for (const e of emails) if (!isValidEmail(e)) throw new InvalidInput(`email "${input.email}" is invalid`);
    return { login, emails, groups: normalizeGroups(input.groups ?? []) };
  }

  /** What `create` would refuse (invalid or taken login/email), for dry runs. */
  async validateNew(input: NewAccount): Promise<void> {
    const { login, emails } = this.prepare(input);
    if (await this.store.accounts.findByLogin(login)) throw new Conflict(`login "${login}" is taken`);
    for (const e of emails) if (await this.store.accounts.findByEmail(e)) throw new Conflict(`email "${e}" is taken`);
  }

  async create(input: NewAccount): Promise<{ account: AccountRecord; temporaryPassword?: string }> {
    const { login, emails, groups } = this.prepare(input);
    const now = this.clock();
    let temporaryPassword: string | undefined;
    let passwordHash: string | undefined;
    let passwordExpiresAt: number | undefined;
    if (input.password !== undefined) {
      const problem = await this.rules.check(input.password, { login, emails, history: [] });
      if (problem) throw new InvalidInput(`password rejected: ${problem}`, { problem });
      passwordHash = await this.hasher.hash(input.password);
    } else if (!input.noPassword) {
      temporaryPassword = generateTemporaryPassword();
      passwordHash = await this.hasher.hash(temporaryPassword);
      passwordExpiresAt = now + this.opts.temporaryPasswordTtlMs;
    }
    const account: AccountRecord = {
      id: accountId(),
      login,
      emails: emails.map((address) => ({ address, verified: false })),
      name: input.name?.trim() || login,
      groups,
      admin: input.admin ?? false,
      status: 'active',
      passwordHistory: [],
      mustChangePassword: temporaryPassword !== undefined,
      notBefore: 0,
      methods: [],
      createdAt: now,
      updatedAt: now,
      version: 0,
      ...(passwordHash ? { passwordHash } : {}),
      ...(passwordExpiresAt ? { passwordExpiresAt } : {}),
    };
    await this.store.accounts.create(account);
    return temporaryPassword ? { account, temporaryPassword } : { account };
  }

  get(id: string): Promise<AccountRecord | undefined> {
    return this.store.accounts.get(id);
  }

  /** Login name or any registered email. */
  findByIdentifier(identifier: string): Promise<AccountRecord | undefined> {
    const id = identifier.normalize('NFKC').trim();
    if (id.includes('@')) {
      return this.store.accounts.findByEmail(normalizeEmail(id)).then(
        async (a) => a ?? this.store.accounts.findByLogin(normalizeLogin(id)),
      );
    }
    return this.store.accounts.findByLogin(normalizeLogin(id));
  }

  async require(idOrLogin: string): Promise<AccountRecord> {
    const account = (await this.store.accounts.get(idOrLogin)) ?? (await this.findByIdentifier(idOrLogin));
    if (!account) throw new NotFound(`no account "${idOrLogin}"`);
    return account;
  }

  /** Lock-out subject of an identifier: the account, or a keyed hash for unknown ones. */
  subjectFor(identifier: string, account: AccountRecord | undefined): string {
    if (account) return accountSubject(account.id);
    return `u:${this.hmac.digest('signin-identifier', normalizeLogin(identifier))}`;
  }

  /** The audit trail's name for an identifier that matches no account: a keyed hash, never the identifier. */
  identifierHash(identifier: string): string {
    return this.hmac.digest('audit-identifier', normalizeLogin(identifier.normalize('NFKC').trim())).slice(0, 16);
  }

  /**
   * Password sign-in. Unknown, disabled and password-less accounts cost one argon2 verify
   * like real ones and end in the same `failed` outcome (the page shows one message; the
   * result says why, for the audit trail).
   */
  async authenticate(identifier: string, password: string, ip: string, options: { moreFactorsFollow?: boolean } = {}): Promise<SigninResult> {
    // Two reads, sent together (the account's is wasted on a throttled address).
    const [ipWait, found] = await Promise.all([this.limits.ipThrottled(ip), this.findByIdentifier(identifier)]);
    if (ipWait !== undefined) return { outcome: 'ip_throttled', retryAfterSeconds: ipWait };
    const target: SigninTarget = found ? { accountId: found.id } : { identifierHash: this.identifierHash(identifier) };
    const subject = this.subjectFor(identifier, found);
    const lock = await this.limits.lockState(subject);
    if (lock.locked) return { outcome: 'locked', ...lock, target };
    const ok = found?.passwordHash
      ? await this.hasher.verify(found.passwordHash, password)
      : await this.hasher.verifyDummy(password);
    if (!ok || !found || found.status !== 'active') {
      const started = lockStarted(await this.limits.recordFailure(subject, ip));
      const reason = ok && found ? 'disabled' : 'wrong_credentials';
      return { outcome: 'failed', reason, target, ...(started ? { lockStarted: started } : {}) };
    }
    if (found.passwordExpiresAt !== undefined && found.passwordExpiresAt <= this.clock()) {
      return { outcome: 'temporary_password_expired', target };
    }
    // When a second factor may follow, failures (of both factors) are cleared only once the
    // whole sign-in succeeds: a right password must not wipe out wrong second factors.
    // `failuresBefore`: the consecutive failures this success ends (only when it ends them).
    if (options.moreFactorsFollow) return { outcome: 'ok', account: found, mustChangePassword: found.mustChangePassword };
    const failuresBefore = await this.limits.failures(subject);
    await this.limits.clear(subject);
    return { outcome: 'ok', account: found, mustChangePassword: found.mustChangePassword, failuresBefore };
  }

  /** Spends the CPU of `count` argon2 verifies, so a decoy costs what a real check costs. */
  async spendDummyVerifications(count: number): Promise<void> {
    await Promise.all(Array.from({ length: Math.min(count, 5) }, () => this.hasher.verifyDummy('decoy answer')));
  }

  /**
   * Optimistic read-modify-write; retries when another writer got there first. `durable`: a
   * password change the user is about to be told of (see AccountRepo.replace).
   */
  async update(
    id: string,
    mutate: (a: AccountRecord) => AccountRecord | Promise<AccountRecord>,
    options: { durable?: boolean; current?: AccountRecord } = {},
  ): Promise<AccountRecord> {
    const { current: known, ...replaceOptions } = options;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      // `current`: the record as the caller just read it; a stale one only costs a retry.
      const current = attempt === 0 && known?.id === id ? known : await this.store.accounts.get(id);
      if (!current) throw new NotFound(`no account "${id}"`);
      const next = { ...(await mutate(structuredClone(current))), version: current.version, updatedAt: this.clock() };
      if (await this.store.accounts.replace(next, replaceOptions)) return { ...next, version: current.version + 1 };
    }
    throw new Conflict('the account is being changed by someone else; try again');
  }

  /**
   * Sets a new password chosen by the user. Returns the rule it breaks, if any, and then
   * changes nothing. Other sessions end (notBefore) unless `keepSessions`.
   */
  async changePassword(id: string, newPassword: string, options: { signOutEverywhere: boolean }): Promise<PasswordProblem | undefined> {
    const account = await this.store.accounts.get(id);
    if (!account) throw new NotFound(`no account "${id}"`);
    const history = [account.passwordHash, ...account.passwordHistory].filter((h): h is string => !!h);
    const problem = await this.rules.check(newPassword, {
      login: account.login,
      emails: account.emails.map((e) => e.address),
      history: history.slice(0, this.opts.historySize + 1),
    });
    if (problem) return problem;
    const hash = await this.hasher.hash(newPassword);
    await this.update(id, (a) => {
      const previous = [a.passwordHash, ...a.passwordHistory].filter((h): h is string => !!h);
      const next: AccountRecord = {
        ...a,
        passwordHash: hash,
        passwordHistory: previous.slice(0, this.opts.historySize),
        mustChangePassword: false,
      };
      delete next.passwordExpiresAt;
      if (options.signOutEverywhere) next.notBefore = this.clock();
      return next;
    }, { durable: true });
    await this.limits.clear(accountSubject(id));
    if (options.signOutEverywhere) await this.revokeAll(id);
    return undefined;
  }

  /**
   * The record after a password reset, not yet written: new hash, the old one into history,
   * temporary-password state cleared, `notBefore` = now. The caller commits it atomically.
   */
  async withNewPassword(account: AccountRecord, newPassword: string): Promise<AccountRecord> {
    const hash = await this.hasher.hash(newPassword);
    const previous = [account.passwordHash, ...account.passwordHistory].filter((h): h is string => !!h);
    const next: AccountRecord = {
      ...structuredClone(account),
      passwordHash: hash,
      passwordHistory: previous.slice(0, this.opts.historySize),
      mustChangePassword: false,
      notBefore: this.clock(),
      updatedAt: this.clock(),
    };
    delete next.passwordExpiresAt;
    return next;
  }

  /** An admin sets a new temporary password; it must be changed at the next sign-in. */
  async issueTemporaryPassword(id: string): Promise<string> {
    const temporaryPassword = generateTemporaryPassword();
    const hash = await this.hasher.hash(temporaryPassword);
    await this.update(id, (a) => ({
      ...a,
      passwordHash: hash,
      // A temporary password is the admin's, not the user's: the user's last one stays in history.
      passwordHistory: a.passwordHash && !a.mustChangePassword ? [a.passwordHash, ...a.passwordHistory].slice(0, this.opts.historySize) : a.passwordHistory,
      passwordExpiresAt: this.clock() + this.opts.temporaryPasswordTtlMs,
      mustChangePassword: true,
      notBefore: this.clock(),
    }), { durable: true });
    await this.limits.clear(accountSubject(id));
    await this.revokeAll(id);
    return temporaryPassword;
  }

  /**
   * Signs the account out everywhere: `notBefore` makes every older session, grant and token
   * invalid at once; deleting them afterwards is cleanup.
   */
  async signOutEverywhere(id: string): Promise<number> {
    await this.update(id, (a) => ({ ...a, notBefore: this.clock() }));
    return this.revokeAll(id);
  }

  async setStatus(id: string, status: AccountRecord['status']): Promise<AccountRecord> {
    const a = await this.update(id, (acc) => ({ ...acc, status, ...(status === 'disabled' ? { notBefore: this.clock() } : {}) }));
    if (status === 'disabled') await this.revokeAll(id);
    return a;
  }

  setGroups(id: string, groups: string[]): Promise<AccountRecord> {
    return this.update(id, (a) => ({ ...a, groups: normalizeGroups(groups) }));
  }

  setAdmin(id: string, admin: boolean): Promise<AccountRecord> {
    return this.update(id, (a) => ({ ...a, admin }));
  }

  /** A failed second factor counts toward the account's sign-in lockout; returns the lock it started, if any. */
  async recordSecondFactorFailure(id: string, ip: string): Promise<LockStarted | undefined> {
    return lockStarted(await this.limits.recordFailure(accountSubject(id), ip));
  }

  /** A sign-in that passed every factor: consecutive failures start again from zero. Returns how many there were. */
  /** Clears the account's failures and says how many there were (sent together: the read goes first on the wire). */
  async signinSucceeded(id: string): Promise<number> {
    const [before] = await Promise.all([this.limits.failures(accountSubject(id)), this.limits.clear(accountSubject(id))]);
    return before;
  }

  async unlock(id: string): Promise<void> {
    await this.limits.clear(accountSubject(id));
  }

  failures(id: string): Promise<number> {
    return this.limits.failures(accountSubject(id));
  }

  lockState(id: string) {
    return this.limits.lockState(accountSubject(id));
  }
}

function lockStarted(state: LockState): LockStarted | undefined {
  if (!state.locked) return undefined;
  return state.hard ? { lock: 'hard' } : { lock: 'soft', ...(state.retryAfterSeconds !== undefined ? { seconds: state.retryAfterSeconds } : {}) };
}

function normalizeGroups(groups: string[]): string[] {
  const out = new Set<string>();
  for (const g of groups) {
    const n = g.normalize('NFKC').trim();
    if (!n) continue;
    if (!/^[\p{L}\p{N}._ -]{1,64}$/u.test(n)) throw new InvalidInput(`group "${g}" is invalid: 1–64 letters, digits, . _ - or space`);
    out.add(n);
  }
  return [...out].sort();
}
