/**
 * Composition root of the domain: config → adapters → domain services. The server, the CLI
 * and the tests all build their services here (tests pass other adapters or a fake clock).
 */
import { setDefaultLocale } from './i18n/index.ts';
import type { Config } from './config/load.ts';
import type { Clock, Store } from './store/types.ts';
import { createLogger, type Logger } from './log.ts';
import { loadKeyMaterial, type KeyMaterial } from './keys.ts';
import { PasswordHasher } from './domain/password-hasher.ts';
import { PasswordRules, contextWords } from './domain/password-rules.ts';
import { BreachedPasswords } from './domain/breached-passwords.ts';
import { SigninLimits } from './domain/signin-limits.ts';
import { Hmac } from './domain/secrets.ts';
import { Accounts } from './domain/accounts.ts';
import { Notifications } from './domain/notifications.ts';
import { SigninNotices } from './domain/signin-notices.ts';
import type { MessageSender } from './domain/messages.ts';
import { SsprPolicy } from './domain/policy.ts';
import { SecretBox } from './domain/secret-box.ts';
import { OneTimeCodes } from './domain/one-time-codes.ts';
import { SendThrottle } from './domain/send-throttle.ts';
import { AccessPasses } from './domain/access-pass.ts';
import { Audit } from './domain/audit.ts';
import { ResetFlows } from './domain/reset/reset-flows.ts';
import { RememberedDevices } from './domain/remembered-devices.ts';
import { getCountryCallingCode, type CountryCode } from 'libphonenumber-js';
import type { CodeDeliveryDeps } from './domain/methods/code-delivery.ts';
import { buildMethods, type Methods } from './domain/methods/registry.ts';
import { openStore } from '../adapters/store/open.ts';
import { DevOutbox } from '../adapters/delivery/dev-outbox.ts';
import { ChannelRouter, SmtpSender } from '../adapters/delivery/smtp.ts';
import { TwilioSender } from '../adapters/delivery/twilio.ts';
import { WebhookSender } from '../adapters/delivery/webhook.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { auditFeed } from './metrics/audit-feed.ts';
import { measuredStore } from './metrics/measured-store.ts';
import { measuredHasher } from './metrics/measured-hasher.ts';
import { armFaultPoints } from './domain/fault-points.ts';

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
  /** Notices of suspicious sign-in attempts, sent after the answer. */
  signinNotices: SigninNotices;
  policy: SsprPolicy;
  box: SecretBox;
  codeDelivery: CodeDeliveryDeps;
  methods: Methods;
  accessPasses: AccessPasses;
  audit: Audit;
  resets: ResetFlows;
  devices: RememberedDevices;
  /** Prometheus metrics, only with `METRICS=on`. */
  metrics?: Metrics;
  close(): Promise<void>;
}

function callingCode(country: string): string[] {
  try {
    return [getCountryCallingCode(country as CountryCode)];
  } catch {
    return [];
  }
}

/** Email over SMTP (or the dev outbox); SMS and voice through the configured gateway (or the outbox). */
function buildSender(config: Config, outbox: DevOutbox | undefined): MessageSender {
  const phone =
    config.SMS_GATEWAY === 'twilio'
      ? new TwilioSender({
          accountSid: config.TWILIO_ACCOUNT_SID!,
          authToken: config.TWILIO_AUTH_TOKEN!,
          from: config.TWILIO_FROM!,
          apiBase: config.TWILIO_API_BASE,
          timeoutMs: config.GATEWAY_TIMEOUT_MS,
        })
      : config.SMS_GATEWAY === 'webhook'
        ? new WebhookSender({ url: config.SMS_WEBHOOK_URL!, secret: config.SMS_WEBHOOK_SECRET!, timeoutMs: config.GATEWAY_TIMEOUT_MS })
        : outbox;
  const email = config.SMTP_URL ? new SmtpSender(config.SMTP_URL, config.MAIL_FROM, config.SMTP_TIMEOUT_MS) : outbox;
  return new ChannelRouter({
    ...(email ? { email } : {}),
    ...(phone ? { sms: phone, voice: phone } : {}),
  });
}

export interface ServiceOverrides {
  clock?: Clock;
  store?: Store;
  sender?: MessageSender;
  log?: Logger;
}

export async function createServices(config: Config, overrides: ServiceOverrides = {}): Promise<Services> {
  const clock = overrides.clock ?? Date.now;
  // Messages sent outside a request (CLI, timers) use the configured language.
  setDefaultLocale(config.DEFAULT_LOCALE);
  const log = overrides.log ?? createLogger(config.LOG_LEVEL);
  const keys = loadKeyMaterial(config);
  const metrics = config.METRICS === 'on' ? createMetrics() : undefined;
  armFaultPoints(config.FAULT_POINTS);
  const rawStore = overrides.store ?? (await openStore(config, clock, log));
  const store = metrics ? measuredStore(rawStore, metrics.storeSeconds) : rawStore;
  const hmac = new Hmac(keys.hmacKeys);
  const plainHasher = new PasswordHasher({
    memoryCost: config.ARGON2_MEMORY_KIB,
    timeCost: config.ARGON2_TIME_COST,
    parallelism: config.ARGON2_PARALLELISM,
  });
  const hasher = metrics ? measuredHasher(plainHasher, metrics.argon2Seconds) : plainHasher;
  const rules = new PasswordRules(
    {
      minLength: config.PASSWORD_MIN_LENGTH,
      maxLength: config.PASSWORD_MAX_LENGTH,
      contextWords: contextWords(config.PRODUCT_NAME, config.ISSUER),
      ...(config.BREACHED_PASSWORDS_FILE ? { breached: new BreachedPasswords(config.BREACHED_PASSWORDS_FILE, config.BREACHED_PASSWORDS_MIN_COUNT) } : {}),
    },
    hasher,
  );
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
  const sender = overrides.sender ?? buildSender(config, outbox);
  const notifications = new Notifications(sender, log, config);
  const policy = new SsprPolicy({
    scope: config.SSPR_SCOPE,
    groups: config.SSPR_GROUPS ?? [],
    enabled: config.SSPR_METHODS,
    methodsRequired: config.SSPR_METHODS_REQUIRED,
    proofsRequired: config.SSPR_PROOFS_REQUIRED,
    registerAtSignin: config.SSPR_REGISTER_AT_SIGNIN,
    postponeLimit: config.SSPR_POSTPONE_LIMIT,
    reconfirmDays: config.SSPR_RECONFIRM_DAYS,
    bootstrap: config.SSPR_BOOTSTRAP,
    twoFactor: config.TWO_FACTOR,
    twoFactorKinds: config.TWO_FACTOR_METHODS ?? config.SSPR_METHODS.filter((k) => k !== 'email' && k !== 'security_questions'),
  });
  const box = new SecretBox(keys.totpKeys);
  const codeDelivery: CodeDeliveryDeps = {
    codes: new OneTimeCodes(store, hmac, clock),
    throttle: new SendThrottle(store, hmac, clock, {
      email: { perWindow: config.EMAIL_SEND_LIMIT, windowSeconds: config.EMAIL_SEND_WINDOW_SECONDS, blockSeconds: config.SEND_BLOCK_SECONDS },
      phone: { perWindow: config.PHONE_SEND_LIMIT, windowSeconds: config.PHONE_SEND_WINDOW_SECONDS, blockSeconds: config.SEND_BLOCK_SECONDS },
    }),
    sender,
    productName: config.PRODUCT_NAME,
    spec: {
      email: { digits: config.EMAIL_CODE_DIGITS, ttlMs: config.CODE_TTL_SECONDS * 1000, maxAttempts: config.CODE_MAX_ATTEMPTS },
      phone: { digits: config.PHONE_CODE_DIGITS, ttlMs: config.CODE_TTL_SECONDS * 1000, maxAttempts: config.CODE_MAX_ATTEMPTS },
    },
  };
  const methodDeps = {
      delivery: codeDelivery,
      allowedCountries: config.PHONE_COUNTRIES,
      ...(config.PHONE_DEFAULT_REGION ? { defaultRegion: config.PHONE_DEFAULT_REGION } : {}),
      box,
      hmac,
      hasher,
      productName: config.PRODUCT_NAME,
      customQuestions: config.SSPR_CUSTOM_QUESTIONS,
      questionsToRegister: config.SSPR_QUESTIONS_REGISTER,
      questionsToAnswer: config.SSPR_QUESTIONS_ANSWER,
      totpDriftSteps: config.TOTP_DRIFT_STEPS,
      issuer: config.ISSUER,
  };
  const methods = buildMethods(methodDeps, config.SSPR_METHODS);
  const accessPasses = new AccessPasses(store, hmac, clock);
  const audit = new Audit(store, log, clock, config.AUDIT_RETENTION_DAYS * 24 * 3600 * 1000);
  if (metrics) audit.onRecord(auditFeed(metrics));
  // Inside a reset, sending is asynchronous: the answer must neither wait for nor reveal the
  // delivery (decoys make none). A failure goes to audit and the logs, never to the page.
  const backgroundSender: MessageSender = {
    send: async (message) => {
      // The account and method come from the reset's audit scope; the cause goes to the log
      // only (a gateway's error text may name the destination).
      void sender.send(message).catch((err: unknown) => {
        log.warn({ event: 'code_delivery_failed', purpose: 'reset', channel: message.channel, err: (err as Error).message });
        return audit.record({ type: 'code.delivery_failed', outcome: 'failure', reason: 'delivery_failed', details: { purpose: 'reset', channel: message.channel } });
      });
    },
  };
  const signinNotices = new SigninNotices({ store, accounts, notifications, audit, log, clock, config });
  const resetDelivery: CodeDeliveryDeps = { ...codeDelivery, sender: backgroundSender };
  const resets = new ResetFlows({
    store,
    accounts,
    policy,
    methods: buildMethods({ ...methodDeps, delivery: resetDelivery }, config.SSPR_METHODS),
    delivery: resetDelivery,
    hmac,
    box,
    audit,
    notifications,
    clock,
    options: {
      flowTtlMs: config.RESET_FLOW_TTL_MINUTES * 60_000,
      maxFailedProofs: config.RESET_MAX_FAILED_PROOFS,
      failedProofWindowMs: config.RESET_BLOCK_HOURS * 3600_000,
      blockMs: config.RESET_BLOCK_HOURS * 3600_000,
      startsPerIp: config.RESET_STARTS_PER_IP,
      startsWindowMs: 3600_000,
      decoyCallingCodes: config.PHONE_COUNTRIES.flatMap((c) => callingCode(c)),
      notifyAdmins: config.RESET_NOTIFY_ADMINS,
    },
  });
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
    signinNotices,
    policy,
    box,
    codeDelivery,
    methods,
    accessPasses,
    audit,
    resets,
    devices: new RememberedDevices(accounts, hmac, clock, config.REMEMBER_DEVICE_DAYS),
    ...(metrics ? { metrics } : {}),
    close: async () => {
      // Notices still on their way finish before their store goes.
      await signinNotices.settled();
      await store.close();
    },
  };
}
