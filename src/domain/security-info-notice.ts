/**
 * "Your security info was changed" notices, sent after a user added, removed or regenerated
 * a method in "My security info". They go to every email address registered as a method
 * before the change (so a removed address hears of its removal) and to the account's primary
 * address. They name what changed (masked), when and from which IP, never a secret; a
 * delivery failure is logged and never undoes the change.
 */
import type { Config } from '../config/load.ts';
import { formatDateTime, t } from '../i18n/index.ts';
import { helpdeskRef, personalText } from './notifications.ts';
import type { Logger } from '../log.ts';
import type { AccountRecord } from '../store/types.ts';
import type { MessageSender } from './messages.ts';
import { methodsOf } from './policy.ts';

export interface SecurityInfoChange {
  /** What changed, in words, e.g. `Recovery method removed: Email (a•••@e•••.com)`. */
  what: string;
  at: number;
  ip: string;
}

export interface SecurityInfoNoticeDeps {
  sender: MessageSender;
  log: Logger;
  config: Pick<Config, 'PRODUCT_NAME' | 'HELPDESK_URL'>;
}

/** Email methods registered before the change, then the primary address; no repeats. */
export function noticeRecipients(before: Pick<AccountRecord, 'methods' | 'emails'>): string[] {
  const out: string[] = [];
  for (const m of methodsOf(before)) if (m.kind === 'email' && !out.includes(m.address)) out.push(m.address);
  const primary = before.emails[0]?.address;
  if (primary && !out.includes(primary)) out.push(primary);
  return out;
}

export function securityInfoNoticeText(
  config: Pick<Config, 'PRODUCT_NAME' | 'HELPDESK_URL'>,
  account: Pick<AccountRecord, 'name' | 'login'>,
  change: SecurityInfoChange,
): { subject: string; text: string } {
  const vars = { product: config.PRODUCT_NAME, login: account.login, when: formatDateTime(change.at), ip: change.ip, what: change.what, helpdesk: helpdeskRef(config) };
  return { subject: t('mail.security_info.subject', vars), text: personalText(account.name, t('mail.security_info.body', vars)) };
}

/**
 * Sends the notice to `noticeRecipients(before)`. Never throws: each failed delivery is logged
 * (the change it reports stays done).
 */
export async function notifySecurityInfoChanged(
  deps: SecurityInfoNoticeDeps,
  before: AccountRecord,
  change: SecurityInfoChange,
): Promise<void> {
  const { subject, text } = securityInfoNoticeText(deps.config, before, change);
  await Promise.all(
    noticeRecipients(before).map(async (to) => {
      try {
        await deps.sender.send({ channel: 'email', to, subject, text });
      } catch (err) {
        deps.log.warn({ event: 'notification_failed', kind: 'security_info_changed', accountId: before.id, err: (err as Error).message });
      }
    }),
  );
}
