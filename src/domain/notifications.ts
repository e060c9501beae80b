/**
 * Security notifications. They never carry a secret, and a delivery failure never undoes
 * the change it reports: it is logged for the operator instead.
 */
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord } from '../store/types.ts';
import type { MessageSender } from './messages.ts';
import { formatDateTime, t } from '../i18n/index.ts';

/** The helpdesk as a message names it: its URL when configured, else "your helpdesk". */
export function helpdeskRef(config: Pick<Config, 'HELPDESK_URL'>): string {
  return config.HELPDESK_URL ?? t('mail.your_helpdesk');
}

/** A greeting, a blank line and the body: every personal message has this shape. */
export function personalText(name: string, body: string): string {
  return `${t('mail.greeting', { name })}\n\n${body}`;
}

/** Every registered address of an account (its emails and email methods), each once. */
export function registeredAddresses(account: Pick<AccountRecord, 'emails' | 'methods'>): string[] {
  const methods = (account.methods as { kind?: string; address?: string }[]).filter((m) => m.kind === 'email' && m.address).map((m) => m.address!);
  return [...new Set([...account.emails.map((e) => e.address), ...methods])];
}

export class Notifications {
  constructor(
    private readonly sender: MessageSender,
    private readonly log: Logger,
    private readonly config: Pick<Config, 'PRODUCT_NAME' | 'HELPDESK_URL'>,
  ) {}

  private vars(account: AccountRecord, context: { at: number; ip: string }): Record<string, string> {
    return { product: this.config.PRODUCT_NAME, login: account.login, name: account.name, when: formatDateTime(context.at), ip: context.ip, helpdesk: helpdeskRef(this.config) };
  }

  /**
   * The admin-provisioned primary address hears of every first registration: if a thief with
   * the password registered his own phone, the owner learns it at once.
   */
  async firstRegistration(account: AccountRecord, context: { at: number; ip: string; method: string }): Promise<void> {
    const primary = account.emails[0]?.address;
    if (!primary) return;
    const vars = { ...this.vars(account, context), method: context.method };
    await this.deliver(primary, t('mail.first_registration.subject', vars), personalText(account.name, t('mail.first_registration.body', vars)), account.id, 'first_registration');
  }

  /** True when the message was handed over; a failure is logged, never thrown. */
  private async deliver(to: string, subject: string, text: string, accountId: string, kind: string): Promise<boolean> {
    try {
      await this.sender.send({ channel: 'email', to, subject, text });
      return true;
    } catch (err) {
      this.log.warn({ event: 'notification_failed', kind, accountId, err: (err as Error).message });
      return false;
    }
  }

  /** Hands one message to every registered address of the account: how many went out, how many failed (logged). */
  async toRegisteredAddresses(account: AccountRecord, subject: string, text: string, kind: string): Promise<{ sent: number; failed: number }> {
    const delivered = await Promise.all(registeredAddresses(account).map((a) => this.deliver(a, subject, text, account.id, kind)));
    const sent = delivered.filter(Boolean).length;
    return { sent, failed: delivered.length - sent };
  }

  /** How many of the account's addresses the notice was handed to (the page says whether one was). */
  async passwordReset(account: AccountRecord, context: { at: number; ip: string }): Promise<number> {
    const vars = this.vars(account, context);
    const { sent } = await this.toRegisteredAddresses(account, t('mail.password_reset.subject', vars), personalText(account.name, t('mail.password_reset.body', vars)), 'password_reset');
    return sent;
  }

  /** Other admins hear of an admin's reset: an attacker taking over an admin is everyone's business. */
  async adminReset(account: AccountRecord, admins: AccountRecord[], context: { at: number; ip: string }): Promise<void> {
    const vars = this.vars(account, context);
    const subject = t('mail.admin_reset.subject', vars);
    const text = t('mail.admin_reset.body', vars);
    const to = [...new Set(admins.flatMap((a) => (a.emails[0] ? [a.emails[0].address] : [])))];
    await Promise.all(to.map((a) => this.deliver(a, subject, text, account.id, 'admin_reset')));
  }

  async passwordChanged(account: AccountRecord, context: { at: number; ip: string }): Promise<void> {
    const vars = this.vars(account, context);
    const subject = t('mail.password_changed.subject', vars);
    const text = personalText(account.name, t('mail.password_changed.body', vars));
    await Promise.all(account.emails.map((e) => this.deliver(e.address, subject, text, account.id, 'password_changed')));
  }
}
