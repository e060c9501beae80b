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
    await Promise.all(
      account.emails.map(async (e) => {
        try {
          await this.sender.send({ channel: 'email', to: e.address, subject: `Your ${this.config.PRODUCT_NAME} password was changed`, text });
        } catch (err) {
          this.log.warn({ event: 'notification_failed', kind: 'password_changed', accountId: account.id, err: (err as Error).message });
        }
      }),
    );
  }
}
