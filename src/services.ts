/**
 * Composition root of the domain: config → adapters → domain services. The server, the CLI
 * and the tests all build their services here (tests pass other adapters or a fake clock).
 */
import type { Config } from './config/load.ts';
import type { Clock, Store } from './store/types.ts';
import { createLogger, type Logger } from './log.ts';
import { loadKeyMaterial, type KeyMaterial } from './keys.ts';
import { PasswordHasher } from './domain/password-hasher.ts';
import { PasswordRules } from './domain/password-rules.ts';
import { SigninLimits } from './domain/signin-limits.ts';
import { Hmac } from './domain/secrets.ts';
import { Accounts } from './domain/accounts.ts';
import { Notifications } from './domain/notifications.ts';
import type { MessageSender } from './domain/messages.ts';
import { openStore } from '../adapters/store/open.ts';
import { DevOutbox } from '../adapters/delivery/dev-outbox.ts';
import { ChannelRouter, SmtpSender } from '../adapters/delivery/smtp.ts';

export interface Services {
  config: Config;
  clock: Clock;
  log: Logger;
  keys: KeyMaterial;
  store: Store;
  hmac: Hmac;
  hasher: PasswordHasher;
  accounts: Accounts;
  sender: MessageSender;
  outbox?: DevOutbox;
  notifications: Notifications;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  clock?: Clock;
  store?: Store;
  sender?: MessageSender;
  log?: Logger;
}

export async function createServices(config: Config, overrides: ServiceOverrides = {}): Promise<Services> {
  const clock = overrides.clock ?? Date.now;
  const log = overrides.log ?? createLogger(config.LOG_LEVEL);
  const keys = loadKeyMaterial(config);
  const store = overrides.store ?? (await openStore(config, clock));
  const hmac = new Hmac(keys.hmacKeys);
  const hasher = new PasswordHasher({
    memoryCost: config.ARGON2_MEMORY_KIB,
    timeCost: config.ARGON2_TIME_COST,
    parallelism: config.ARGON2_PARALLELISM,
  });
  const rules = new PasswordRules({ minLength: config.PASSWORD_MIN_LENGTH, maxLength: config.PASSWORD_MAX_LENGTH }, hasher);
  const limits = new SigninLimits(
    store,
    {
      threshold: config.SIGNIN_LOCKOUT_THRESHOLD,
      baseSeconds: config.SIGNIN_LOCKOUT_SECONDS,
      maxSeconds: config.SIGNIN_LOCKOUT_MAX_SECONDS,
      hardLimit: config.SIGNIN_MAX_CONSECUTIVE_FAILURES,
      ipMaxFailures: config.SIGNIN_IP_MAX_FAILURES,
      ipWindowSeconds: config.SIGNIN_IP_WINDOW_SECONDS,
    },
    clock,
  );
  const accounts = new Accounts(store, hasher, rules, limits, hmac, clock, {
    temporaryPasswordTtlMs: config.TEMP_PASSWORD_TTL_HOURS * 3600 * 1000,
    historySize: config.PASSWORD_HISTORY,
  });
  const outbox = config.DEV_OUTBOX ? new DevOutbox(store, clock) : undefined;
  const sender =
    overrides.sender ??
    (outbox ?? new ChannelRouter(config.SMTP_URL ? { email: new SmtpSender(config.SMTP_URL, config.MAIL_FROM) } : {}));
  const notifications = new Notifications(sender, log, config);
  return {
    config,
    clock,
    log,
    keys,
    store,
    hmac,
    hasher,
    accounts,
    sender,
    ...(outbox ? { outbox } : {}),
    notifications,
    close: () => store.close(),
  };
}
