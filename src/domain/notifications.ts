/**
 * Security notifications. They never carry a secret, and a delivery failure never undoes
 * the change it reports: it is logged for the operator instead.
 */
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord } from '../store/types.ts';
import type { MessageSender } from './messages.ts';

export class Notifications {
  constructor(
    private readonly sender: MessageSender,
    private readonly log: Logger,
    private readonly config: Pick<Config, 'PRODUCT_NAME' | 'HELPDESK_URL'>,
  ) {}

  /**
   * The admin-provisioned primary address hears of every first registration: if a thief with
   * the password registered his own phone, the owner learns it at once.
   */
  async firstRegistration(account: AccountRecord, context: { at: number; ip: string; method: string }): Promise<void> {
    const primary = account.emails[0]?.address;
    if (!primary) return;
    const help = this.config.HELPDESK_URL ? ` Contact ${this.config.HELPDESK_URL} at once.` : ' Contact your helpdesk at once.';
    await this.deliver(primary, `Recovery methods were set up for your ${this.config.PRODUCT_NAME} account`, [
      `Hello ${account.name},`,
      '',
      `a first recovery method (${context.method}) was set up for your ${this.config.PRODUCT_NAME} account "${account.login}" on ${new Date(context.at).toUTCString()} from IP address ${context.ip}.`,
      '',
      `If this was not you, someone may know your password.${help}`,
    ].join('\n'), account.id, 'first_registration');
  }

  private async deliver(to: string, subject: string, text: string, accountId: string, kind: string): Promise<void> {
    try {
      await this.sender.send({ channel: 'email', to, subject, text });
    } catch (err) {
      this.log.warn({ event: 'notification_failed', kind, accountId, err: (err as Error).message });
    }
  }

  /** Every registered address (account emails and email methods), each once. */
  private addressesOf(account: AccountRecord): string[] {
    const methods = (account.methods as { kind?: string; address?: string }[]).filter((m) => m.kind === 'email' && m.address).map((m) => m.address!);
    return [...new Set([...account.emails.map((e) => e.address), ...methods])];
  }

  async passwordReset(account: AccountRecord, context: { at: number; ip: string }): Promise<void> {
    const help = this.config.HELPDESK_URL ? ` and contact ${this.config.HELPDESK_URL}` : ' and contact your helpdesk';
    const text = [
      `Hello ${account.name},`,
      '',
      `the password of your ${this.config.PRODUCT_NAME} account "${account.login}" was reset on ${new Date(context.at).toUTCString()} from IP address ${context.ip}, with "Forgot password?". Every earlier session was signed out.`,
      '',
      `If this was not you, someone may control your recovery methods: reset your password again now${help}.`,
    ].join('\n');
    const subject = `Your ${this.config.PRODUCT_NAME} password was reset`;
    await Promise.all(this.addressesOf(account).map((a) => this.deliver(a, subject, text, account.id, 'password_reset')));
  }

  /** Other admins hear of an admin's reset: an attacker taking over an admin is everyone's business. */
  async adminReset(account: AccountRecord, admins: AccountRecord[], context: { at: number; ip: string }): Promise<void> {
    const subject = `${this.config.PRODUCT_NAME}: the admin account "${account.login}" reset its password`;
    const text = [
      `The administrator account "${account.login}" (${account.name}) reset its password with "Forgot password?" on ${new Date(context.at).toUTCString()} from IP address ${context.ip}.`,
      '',
      'If you do not expect this, check with its owner through a channel you trust.',
    ].join('\n');
    const to = [...new Set(admins.flatMap((a) => (a.emails[0] ? [a.emails[0].address] : [])))];
    await Promise.all(to.map((a) => this.deliver(a, subject, text, account.id, 'admin_reset')));
  }

  async passwordChanged(account: AccountRecord, context: { at: number; ip: string }): Promise<void> {
    const when = new Date(context.at).toUTCString();
    const help = this.config.HELPDESK_URL ? ` or contact ${this.config.HELPDESK_URL}` : '';
    const text = [
      `Hello ${account.name},`,
      '',
      `the password of your ${this.config.PRODUCT_NAME} account "${account.login}" was changed on ${when} from IP address ${context.ip}.`,
      '',
      `If this was not you, reset your password now with "Forgot password?" on the sign-in page${help}.`,
    ].join('\n');
    const subject = `Your ${this.config.PRODUCT_NAME} password was changed`;
    await Promise.all(account.emails.map((e) => this.deliver(e.address, subject, text, account.id, 'password_changed')));
  }
}
