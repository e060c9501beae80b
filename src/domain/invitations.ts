/**
 * Invitations: how an imported or newly created user sets their first password and proves
 * their primary address at once. An admin issues one (CLI); the user gets a single-use code by
 * email with a link to `/invite`, a page that only shows a form (mail scanners open links).
 * The code comes from a CSPRNG, is stored only as a keyed hash with an expiry, costs an attempt
 * per try (the invitation dies after the limit) and is consumed atomically. An accepted
 * invitation marks the primary address verified and counts as the bootstrap proof of the
 * first registration (`bootstrapProvenAt`).
 *
 * Unknown identifiers, disabled accounts and wrong, expired or used codes all end in the same
 * `invalid` outcome, so the page reveals nothing about who exists.
 */
import type { Config } from '../config/load.ts';
import { formatDateTime, t } from '../i18n/index.ts';
import { helpdeskRef, personalText } from './notifications.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord, Clock, Store } from '../store/types.ts';
import { InvalidInput } from '../errors.ts';
import type { Accounts } from './accounts.ts';
import type { Audit } from './audit.ts';
import type { MessageSender } from './messages.ts';
import { maskEmail } from './methods/mask.ts';
import { normalizeEmail, normalizeLogin } from './normalize.ts';
import type { PasswordProblem } from './password-rules.ts';
import { generateTemporaryPassword, type Hmac } from './secrets.ts';
import { withLease } from './lease.ts';

/** Tries per invitation; the next one kills it. */
export const INVITE_MAX_ATTEMPTS = 5;
/** Failed acceptances per client IP and window, against spraying guesses across accounts. */
const IP_MAX_FAILURES = 30;
const IP_WINDOW_MS = 15 * 60 * 1000;

interface StoredInvitation {
  hash: string;
  expiresAt: number;
}

const inviteKey = (accountId: string): string => `{a:${accountId}}:invite`;
const attemptsKey = (accountId: string): string => `{a:${accountId}}:invite-attempts`;
const purpose = (accountId: string): string => `invite:${accountId}`;

/** Codes are typed by hand: case, spaces and dashes do not matter. */
function normalizeCode(code: string): string {
  return code.normalize('NFKC').toLowerCase().replace(/[\s\u2010-\u2015-]/g, '');
}

export interface InvitationsDeps {
  store: Store;
  hmac: Hmac;
  clock: Clock;
  accounts: Accounts;
  sender: MessageSender;
  audit: Audit;
  log: Logger;
  config: Pick<Config, 'ISSUER' | 'INVITE_TTL_HOURS' | 'PRODUCT_NAME' | 'PASSWORD_HISTORY' | 'HELPDESK_URL'>;
}

export interface IssuedInvitation {
  /** The address the invitation went to. */
  to: string;
  expiresAt: number;
}

export type AcceptResult =
  | { outcome: 'accepted'; account: AccountRecord }
  | { outcome: 'invalid' }
  | { outcome: 'password'; problem: PasswordProblem }
  | { outcome: 'throttled'; retryAfterSeconds: number }
  /** Another acceptance for this account is being processed (a double submit): nothing was tried. */
  | { outcome: 'busy' };

export class Invitations {
  constructor(private readonly deps: InvitationsDeps) {}

  get ttlMs(): number {
    return this.deps.config.INVITE_TTL_HOURS * 3600 * 1000;
  }

  /**
   * Issues a new invitation (replacing any earlier one) and emails it to the primary address.
   * When the mail cannot be handed over, the invitation is withdrawn and the error rethrown.
   */
  async issue(account: AccountRecord, options: { actor?: string } = {}): Promise<IssuedInvitation> {
    const { store, hmac, clock, sender, audit, config } = this.deps;
    const to = account.emails[0]?.address;
    if (!to) throw new InvalidInput(`${account.login} has no email address to send an invitation to`);
    if (account.status !== 'active') throw new InvalidInput(`${account.login} is disabled; enable the account before inviting`);
    const code = generateTemporaryPassword();
    const expiresAt = clock() + this.ttlMs;
    await store.counters.reset(attemptsKey(account.id));
    await store.ephemeral.put(inviteKey(account.id), { hash: hmac.digest(purpose(account.id), normalizeCode(code)), expiresAt } satisfies StoredInvitation, expiresAt);
    const link = `${config.ISSUER}/invite?login=${encodeURIComponent(account.login)}`;
    const vars = { product: config.PRODUCT_NAME, login: account.login, link, code, expires: formatDateTime(expiresAt), helpdesk: helpdeskRef(config) };
    const text = personalText(account.name, t('mail.invitation.body', vars));
    try {
      await sender.send({ channel: 'email', to, subject: t('mail.invitation.subject', vars), text });
    } catch (err) {
      await store.ephemeral.delete(inviteKey(account.id));
      await audit.record({ type: 'invite.sent', outcome: 'failure', accountId: account.id, ...(options.actor ? { actor: options.actor } : {}), reason: 'delivery_failed', details: { to: maskEmail(to) } });
      throw err;
    }
    await audit.record({
      type: 'invite.sent',
      outcome: 'success',
      accountId: account.id,
      ...(options.actor ? { actor: options.actor } : {}),
      details: { to: maskEmail(to), expiresAt: new Date(expiresAt).toISOString() },
    });
    return { to, expiresAt };
  }

  /** The account an identifier names: its login or its primary address. */
  private async find(identifier: string): Promise<AccountRecord | undefined> {
    const id = identifier.normalize('NFKC').trim();
    if (!id) return undefined;
    const byLogin = await this.deps.store.accounts.findByLogin(normalizeLogin(id));
    if (byLogin) return byLogin;
    if (!id.includes('@')) return undefined;
    const byEmail = await this.deps.store.accounts.findByEmail(normalizeEmail(id));
    return byEmail && byEmail.emails[0]?.address === normalizeEmail(id) ? byEmail : undefined;
  }

  private async failed(ip: string, accountId: string | undefined, reason: string): Promise<AcceptResult> {
    await this.deps.store.counters.hit(`invite-ip:{${ip}}`, IP_WINDOW_MS);
    await this.deps.audit.record({ type: 'invite.failed', outcome: reason === 'attempts_exceeded' ? 'blocked' : 'failure', ...(accountId ? { accountId } : {}), ip, reason });
    return { outcome: 'invalid' };
  }

  /**
   * Sets the password of an invited account. The password rules are checked once the code is
   * known to be right and before anything is consumed: a rejected password changes nothing.
   */
  async accept(identifier: string, code: string, password: string, ip: string): Promise<AcceptResult> {
    const { store, clock, audit } = this.deps;
    const ipState = await store.counters.get(`invite-ip:{${ip}}`);
    if (ipState && ipState.count >= IP_MAX_FAILURES) {
      await audit.record({ type: 'invite.failed', outcome: 'blocked', ip, reason: 'ip_throttled' });
      return { outcome: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil((ipState.resetAt - clock()) / 1000)) };
    }
    const account = await this.find(identifier);
    if (!account || account.status !== 'active') return this.failed(ip, account?.id, account ? 'account_disabled' : 'unknown_identifier');
    // One acceptance at a time per account. Attempts are counted before the comparison, so a
    // burst of the right code (a double submit) would run past the attempt limit, and the
    // requests over it would delete the invitation before the first could use it: nobody got in.
    const run = await withLease(store.ephemeral, clock, `{a:${account.id}}:invite-lease`, () => this.acceptFor(account, code, password, ip));
    return run.held ? run.value : { outcome: 'busy' };
  }

  private async acceptFor(account: AccountRecord, code: string, password: string, ip: string): Promise<AcceptResult> {
    const { store, hmac, clock, accounts, audit, config } = this.deps;
    const key = inviteKey(account.id);
    const stored = await store.ephemeral.get<StoredInvitation>(key);
    if (!stored || stored.expiresAt <= clock()) return this.failed(ip, account.id, 'no_invitation');
    // Counted before the comparison, atomically, so parallel guesses cannot exceed the limit.
    const windowMs = Math.max(stored.expiresAt - clock(), 1000);
    const attempts = await store.counters.hit(attemptsKey(account.id), windowMs);
    if (attempts.count > INVITE_MAX_ATTEMPTS) {
      await store.ephemeral.delete(key);
      return this.failed(ip, account.id, 'attempts_exceeded');
    }
    if (!hmac.matches(purpose(account.id), normalizeCode(code), stored.hash)) return this.failed(ip, account.id, 'code_wrong');

    const history = [account.passwordHash, ...account.passwordHistory].filter((h): h is string => !!h);
    const problem = await accounts.rules.check(password, {
      login: account.login,
      emails: account.emails.map((e) => e.address),
      history: history.slice(0, config.PASSWORD_HISTORY + 1),
    });
    if (problem) {
      // The right code was given: a password the rules refuse does not cost an attempt.
      await store.counters.hit(attemptsKey(account.id), windowMs, -1);
      await audit.record({ type: 'password.changed', outcome: 'failure', accountId: account.id, ip, reason: problem, details: { via: 'invite' } });
      return { outcome: 'password', problem };
    }

    const taken = await store.ephemeral.consume<StoredInvitation>(key);
    if (!taken) return this.failed(ip, account.id, 'code_used');
    if (taken.hash !== stored.hash) {
      // A newer invitation replaced this one meanwhile: leave the newer one in place.
      await store.ephemeral.put(key, taken, taken.expiresAt);
      return this.failed(ip, account.id, 'code_replaced');
    }
    const late = await accounts.changePassword(account.id, password, { signOutEverywhere: true });
    if (late) {
      // The account changed between the check and the commit (e.g. a concurrent password change).
      await store.ephemeral.put(key, taken, taken.expiresAt);
      return { outcome: 'password', problem: late };
    }
    await store.counters.reset(attemptsKey(account.id));
    const now = clock();
    const updated = await accounts.update(account.id, (a) => {
      if (a.emails[0]) a.emails[0].verified = true;
      return { ...a, bootstrapProvenAt: now };
    });
    await audit.record({ type: 'invite.accepted', outcome: 'success', accountId: account.id, ip });
    await audit.record({ type: 'password.changed', outcome: 'success', accountId: account.id, ip, details: { via: 'invite' } });
    return { outcome: 'accepted', account: updated };
  }
}
