/**
 * Notices of suspicious sign-in attempts (ASVS 6.3.4), to every registered address of the
 * account:
 *
 * - `signin_locked`: wrong passwords locked the account;
 * - `second_factor_locked`: the right password, then failed second factors locked it;
 * - `signin_after_failures`: a sign-in succeeded after `afterFailures` or more consecutive
 *   failures (half the lockout threshold, rounded up).
 *
 * Sending happens after the answer: the caller is never delayed, so a failed sign-in of a real
 * account looks and takes like one of an identifier that names none (which gets nothing). A
 * lockout is told once (a store counter that lives as long as the lock), a success after
 * failures at most once an hour; further failures inside a lock never reach here (a locked
 * account refuses before counting). The texts say when, how many and which app, never the
 * password tried nor a guess at where it came from. They are written in `DEFAULT_LOCALE`: the
 * request behind them may be a stranger's. Delivery is Notifications'; a failure is logged and
 * audited, never shown: the sign-in's answer went out already.
 */
import type { Config } from '../config/load.ts';
import { formatDateTime, t, withLocale } from '../i18n/index.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord, Clock, Store } from '../store/types.ts';
import type { LockStarted } from './accounts.ts';
import type { Audit } from './audit.ts';
import { helpdeskRef, personalText, registeredAddresses, type Notifications } from './notifications.ts';

export type SigninNoticeKind = 'signin_locked' | 'second_factor_locked' | 'signin_after_failures';

/** Where the attempt came from, as far as rekey knows it: the app's name when there was one. */
export interface SigninAttempt {
  ip: string;
  client?: string;
}

export interface SigninNoticesDeps {
  store: Store;
  accounts: { get(id: string): Promise<AccountRecord | undefined>; failures(id: string): Promise<number> };
  notifications: Pick<Notifications, 'toRegisteredAddresses'>;
  audit: Audit;
  log: Logger;
  clock: Clock;
  config: Pick<Config, 'NOTIFY_SUSPICIOUS_SIGNINS' | 'SIGNIN_LOCKOUT_THRESHOLD' | 'PRODUCT_NAME' | 'HELPDESK_URL' | 'ISSUER' | 'DEFAULT_LOCALE'>;
}

const HOUR_MS = 3600_000;
/** A hard lock lasts until an admin unlocks it; no failure is counted meanwhile, so a day is plenty. */
const HARD_LOCK_WINDOW_MS = 24 * HOUR_MS;

/** What a notice says: how many consecutive failures, when, from which app, and until when sign-in is paused. */
interface Notice {
  kind: SigninNoticeKind;
  count: number;
  at: number;
  attempt: SigninAttempt;
  /** The end of the lock (ms), or `hard` (until an admin unlocks or a reset); none after a success. */
  pausedUntil?: number | 'hard';
}

export class SigninNotices {
  /** Consecutive failures before a success that make the success worth a notice. */
  readonly afterFailures: number;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly deps: SigninNoticesDeps) {
    this.afterFailures = Math.ceil(deps.config.SIGNIN_LOCKOUT_THRESHOLD / 2);
  }

  /** A failure locked the account: `via` says whether the password or the second step failed. Returns at once. */
  lockStarted(accountId: string, started: LockStarted, via: 'password' | 'second_factor', attempt: SigninAttempt): void {
    const at = this.deps.clock();
    const windowMs = started.lock === 'hard' ? HARD_LOCK_WINDOW_MS : (started.seconds ?? 60) * 1000;
    const kind: SigninNoticeKind = via === 'password' ? 'signin_locked' : 'second_factor_locked';
    this.later(accountId, 'lockout', windowMs, async () => ({
      kind,
      count: await this.deps.accounts.failures(accountId),
      at,
      attempt,
      pausedUntil: started.lock === 'hard' ? 'hard' : at + windowMs,
    }));
  }

  /** A sign-in passed every factor after `failuresBefore` consecutive failures. Returns at once. */
  succeeded(accountId: string, failuresBefore: number, attempt: SigninAttempt): void {
    if (failuresBefore < this.afterFailures) return;
    const at = this.deps.clock();
    this.later(accountId, 'after-failures', HOUR_MS, async () => ({ kind: 'signin_after_failures', count: failuresBefore, at, attempt }));
  }

  /** Resolves once every notice started so far is sent or given up (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * Sends the notice after the caller's answer, at most once per `windowMs` for the account's
   * `slot` (both lockout notices share one: a lock is told once). Never throws.
   */
  private later(accountId: string, slot: string, windowMs: number, describe: () => Promise<Notice>): void {
    if (!this.deps.config.NOTIFY_SUSPICIOUS_SIGNINS) return;
    const { store, accounts, notifications, audit, log, config } = this.deps;
    const run = (async () => {
      // Off the caller's path: the answer of the attempt never waits for this.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const account = await accounts.get(accountId);
      if (!account || account.status !== 'active') return;
      const recipients = registeredAddresses(account).length;
      if (recipients === 0) return;
      const notice = await describe();
      const once = await store.counters.hit(`{a:${accountId}}:signin-notice:${slot}`, windowMs);
      if (once.count > 1) {
        await audit.record({ type: 'notice.sent', outcome: 'blocked', accountId, ip: notice.attempt.ip, reason: 'notice_throttled', details: { notice: notice.kind } });
        return;
      }
      const { subject, text } = withLocale(config.DEFAULT_LOCALE, () => this.text(notice, account));
      const { failed } = await notifications.toRegisteredAddresses(account, subject, text, notice.kind);
      await audit.record({
        type: 'notice.sent',
        outcome: failed === 0 ? 'success' : 'failure',
        accountId,
        ip: notice.attempt.ip,
        ...(failed > 0 ? { reason: 'delivery_failed' } : {}),
        details: { notice: notice.kind, recipients, ...(failed > 0 ? { failed } : {}) },
      });
    })().catch((err: unknown) => {
      log.warn({ event: 'notification_failed', kind: slot, accountId, err: (err as Error).message });
    });
    const tracked: Promise<void> = run.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private text(notice: Notice, account: AccountRecord): { subject: string; text: string } {
    const { config } = this.deps;
    const lines = [t('mail.signin_notice.time', { when: formatDateTime(notice.at) })];
    if (notice.attempt.client) lines.push(t('mail.signin_notice.app', { client: notice.attempt.client }));
    const until = notice.pausedUntil;
    const vars = {
      product: config.PRODUCT_NAME,
      login: account.login,
      count: notice.count,
      facts: lines.map((line) => `  ${line}`).join('\n'),
      pause: until === undefined ? '' : until === 'hard' ? t('mail.signin_notice.paused_hard') : t('mail.signin_notice.paused_until', { until: formatDateTime(until) }),
      change: `${config.ISSUER}/account/password`,
      reset: `${config.ISSUER}/reset`,
      helpdesk: helpdeskRef(config),
    };
    return { subject: t(`mail.${notice.kind}.subject`, vars), text: personalText(account.name, t(`mail.${notice.kind}.body`, vars)) };
  }
}
