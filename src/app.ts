/**
 * Composition root of the HTTP side: services → provider → our routes. The server and the
 * tests build the same app.
 */
import type Provider from 'oidc-provider';
import type { Services } from './services.ts';
import { createProvider } from './provider/provider.ts';
import { loadClientsFile, registry, type ClientEntry } from './provider/clients.ts';
import { ConfigError } from './errors.ts';
import { seedDemoUsers } from './demo-users.ts';
import { brandKit } from '../interactions/views/branding.ts';
import { localeMiddleware } from '../interactions/http/locale.ts';
import { cookieNames, prefixedCookies } from './cookie-names.ts';
import { securityHeaders } from '../interactions/http/security-headers.ts';
import { errorHandler } from '../interactions/http/error-handler.ts';
import { pinnedOrigin } from '../interactions/http/pinned-origin.ts';
import { requestLog } from '../interactions/http/request-log.ts';
import { auditScope } from '../interactions/http/audit-scope.ts';
import { healthRoutes } from '../interactions/ops/health.ts';
import { metricsRoutes } from '../interactions/ops/metrics.ts';
import { assetRoutes } from '../interactions/ops/assets.ts';
import { signinRoutes } from '../interactions/signin/routes.ts';
import { passwordStage } from '../interactions/signin/password-stage.ts';
import { changePasswordStage } from '../interactions/signin/change-password-stage.ts';
import { bootstrapStage } from '../interactions/signin/bootstrap-stage.ts';
import { registrationStage } from '../interactions/signin/registration-stage.ts';
import { reconfirmStage } from '../interactions/signin/reconfirm-stage.ts';
import { secondFactorStage } from '../interactions/signin/second-factor-stage.ts';
import { demoRoutes } from '../interactions/demo/routes.ts';
import { resetRoutes } from '../interactions/reset/routes.ts';
import { resetApiRoutes } from '../interactions/api/reset-api.ts';
import { demoClient } from '../interactions/demo/demo-client.ts';
import { outboxRoutes } from '../interactions/dev/outbox-routes.ts';
import { accountRoutes } from '../interactions/account/routes.ts';
import { accountClient } from '../interactions/account/account-client.ts';
import { inviteRoutes } from '../interactions/invite/routes.ts';
import { changePasswordRoutes } from '../interactions/account/change-password-routes.ts';
import { backchannelLogoutAll } from './provider/backchannel.ts';
import { adminClient } from '../interactions/admin/admin-client.ts';
import { adminRoutes } from '../interactions/admin/routes.ts';

export interface App {
  provider: Provider;
  /** Node request listener. */
  callback: ReturnType<Provider['callback']>;
  demoUsers: { login: string; password: string }[];
}

export async function buildApp(services: Services, extraClients: ClientEntry[] = []): Promise<App> {
  const { config } = services;
  const kit = brandKit(config);
  const { branding } = kit;
  const clients = [...loadClientsFile(config.CLIENTS_FILE), ...extraClients];
  if (config.DEMO) clients.push(demoClient(config.ISSUER));
  clients.push(accountClient(config.ISSUER));
  if (config.ADMIN_DASHBOARD) clients.push(adminClient(config.ISSUER));
  const ids = new Set<string>();
  for (const c of clients) {
    if (ids.has(c.client_id)) throw new ConfigError(`CLIENTS_FILE: client_id "${c.client_id}" is used twice (or clashes with the demo app)`);
    ids.add(c.client_id);
  }
  const provider = createProvider(services, registry(clients), branding);
  // Relying parties with a backchannel_logout_uri hear of every sign-out done outside the
  // provider (reset, password change, sign out everywhere), before the sessions are deleted.
  const beforeRevoke = async (accountId: string): Promise<void> => {
    await backchannelLogoutAll(provider, services.store, accountId, services.log);
  };
  services.accounts.setBeforeRevoke(beforeRevoke);
  services.resets.setBeforeRevoke(beforeRevoke);
  const demoUsers = config.DEMO ? await seedDemoUsers(services.accounts) : [];

  const stages = [
    passwordStage({ accounts: services.accounts, audit: services.audit, notices: services.signinNotices, branding, resetEnabled: config.SSPR_SCOPE !== 'none', log: services.log }),
    changePasswordStage({ accounts: services.accounts, notifications: services.notifications, audit: services.audit, branding, clock: services.clock }),
    bootstrapStage(services, branding),
    secondFactorStage(services, branding),
    changePasswordStage({ accounts: services.accounts, notifications: services.notifications, audit: services.audit, branding, clock: services.clock }, 'breached'),
    registrationStage(services, branding),
  ];
  // After sign-in (existing sessions): the same registration stages, then re-confirmation.
  const securityInfoStages = [bootstrapStage(services, branding), registrationStage(services, branding), reconfirmStage(services, branding)];

  provider.use(requestLog(services.log));
  provider.use(auditScope(config.TRUST_PROXY_HOPS));
  provider.use(securityHeaders(kit.imgOrigin ? { imgOrigin: kit.imgOrigin } : {}));
  provider.use(localeMiddleware({ defaultLocale: config.DEFAULT_LOCALE, secureCookie: prefixedCookies(config.ISSUER), cookieName: cookieNames(config.ISSUER).locale }));
  provider.use(errorHandler(branding, services.log));
  provider.use(pinnedOrigin(config.ISSUER, config.TRUST_PROXY_HOPS > 0));
  for (const router of [
    healthRoutes(services.store),
    metricsRoutes(services.metrics, config.METRICS_TOKEN, services.log),
    assetRoutes(kit),
    resetRoutes(provider, services, branding),
    resetApiRoutes(services),
    signinRoutes({ provider, services, branding, stages, securityInfoStages }),
    accountRoutes({ provider, services, branding }),
    changePasswordRoutes({ provider, services, branding }),
    inviteRoutes(services, branding),
    ...(config.ADMIN_DASHBOARD ? [adminRoutes({ services, branding })] : []),
    ...(config.DEMO ? [demoRoutes(services, branding, demoUsers)] : []),
    ...(services.outbox ? [outboxRoutes(services.outbox, branding)] : []),
  ]) {
    provider.use(router.routes());
    provider.use(router.allowedMethods());
  }
  return { provider, callback: provider.callback(), demoUsers };
}
