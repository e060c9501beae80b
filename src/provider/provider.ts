/**
 * oidc-provider set up for rekey: our adapter, keys, clients, claims, TTLs, and our own pages
 * for errors and sign-out. The sign-in interaction itself lives in interactions/.
 */
import { LOCALES } from '../i18n/locales.ts';
import { userMessage } from '../../interactions/http/error-handler.ts';
import Provider, { interactionPolicy, type Account, type AccountClaims, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/types.ts';
import { guard, modelAdapterFactory, RequestAccounts } from '../../adapters/oidc/model-adapter.ts';
import { ACR_MFA, ACR_PWD, ACR_VALUES } from './acr.ts';
import type { ClientRegistry } from './clients.ts';
import type { Branding } from '../../interactions/views/layout.ts';
import { errorPage } from '../../interactions/views/pages/error.ts';
import { loggedOutPage, logoutPage } from '../../interactions/views/pages/logout.ts';
import { backchannelFetch } from './backchannel.ts';
import { cookieNames } from '../cookie-names.ts';

export function accountClaims(account: AccountRecord): AccountClaims {
  const primary = account.emails[0];
  return {
    sub: account.id,
    name: account.name,
    preferred_username: account.login,
    ...(primary ? { email: primary.address, email_verified: primary.verified } : {}),
    groups: account.groups,
  };
}

/** What findAccount hands oidc-provider: its account plus our stored record for the checks. */
interface LoadedAccount extends Account {
  record: AccountRecord;
}

function policy(services: Services) {
  const { Check, Prompt, base } = interactionPolicy;
  const prompts = base();
  // A session whose account was disabled or deleted must sign in again, never pass through.
  prompts.get('login')!.checks.add(
    new Check('account_unavailable', 'the account of this session cannot sign in', (ctx) =>
      ctx.oidc.session?.accountId && !ctx.oidc.account ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
  );
  // Step-up: a client asking for a multi-factor sign-in re-opens login (at the second-factor
  // stage) for a session that has none. Satisfied by this authorization's own login result,
  // which finishes with the error unmet_authentication_requirements when it cannot be met.
  prompts.get('login')!.checks.add(
    new Check('acr_mfa_required', 'a multi-factor sign-in is required', (ctx) => {
      const values = String(ctx.oidc.params?.acr_values ?? '').split(' ');
      // Only a demand (mfa without pwd as an alternative) re-opens a session's sign-in.
      const wanted = values.includes(ACR_MFA) && !values.includes(ACR_PWD);
      if (!wanted || ctx.oidc.result?.login || ctx.oidc.session?.acr === ACR_MFA) return Check.NO_NEED_TO_PROMPT;
      return Check.REQUEST_PROMPT;
    }),
  );
  // After sign-in: re-confirm recovery methods when due, or register them when an existing
  // session's account newly needs it (scope widened). Decided from the stored account, and
  // satisfied by this authorization's own result, so it can never loop.
  prompts.add(
    new Prompt(
      { name: 'security_info', requestable: false },
      new Check('security_info_due', 'recovery methods need registration or re-confirmation', (ctx) => {
        if (ctx.oidc.result?.security_info) return Check.NO_NEED_TO_PROMPT;
        const record = (ctx.oidc.account as unknown as LoadedAccount | undefined)?.record;
        if (!record) return Check.NO_NEED_TO_PROMPT;
        const { policy: sspr, clock } = services;
        const register = sspr.needsRegistration(record) && (sspr.options.registerAtSignin || sspr.needsSecondFactorRegistration(record));
        return register || sspr.reconfirmDue(record, clock()) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }),
    ),
    1,
  );
  return prompts;
}

/** Seconds a session may live from now: the idle timeout, but never past SESSION_TTL_SECONDS after the sign-in. */
export function sessionTtl(config: Pick<Services['config'], 'SESSION_TTL_SECONDS' | 'SESSION_IDLE_SECONDS'>, loginTs: number | undefined, now: number): number {
  const idle = Math.min(config.SESSION_IDLE_SECONDS, config.SESSION_TTL_SECONDS);
  if (!loginTs) return idle;
  return Math.max(1, Math.min(idle, loginTs + config.SESSION_TTL_SECONDS - now));
}

export function createProvider(services: Services, clients: ClientRegistry, branding: Branding): Provider {
  const { config, store, clock, keys } = services;
  const ttl = {
    AccessToken: config.ACCESS_TOKEN_TTL_SECONDS,
    AuthorizationCode: 60,
    IdToken: config.ID_TOKEN_TTL_SECONDS,
    Interaction: config.INTERACTION_TTL_SECONDS,
    // Re-saved at every use: the idle timeout restarts, capped by the absolute lifetime from the sign-in.
    // Date.now, not the injected clock: loginTs is oidc-provider's own epoch time.
    Session: (_ctx: unknown, session: { loginTs?: number }) => sessionTtl(config, session.loginTs, Math.floor(Date.now() / 1000)),
    Grant: Math.max(config.SESSION_TTL_SECONDS, config.REFRESH_TOKEN_TTL_SECONDS),
    RefreshToken: config.REFRESH_TOKEN_TTL_SECONDS,
  };

  // The revocation checks of a request's sessions, grants and tokens and findAccount share one read of the account.
  const requestAccounts = new RequestAccounts(store.accounts);
  const cookieName = cookieNames(config.ISSUER);
  const configuration: Configuration = {
    adapter: modelAdapterFactory({ oidc: store.oidc, accounts: requestAccounts, clock }),
    clients: clients.metadata,
    // Back-channel logout may reach the configured relying parties on a private network.
    fetch: backchannelFetch(clients.metadata.flatMap((c) => (typeof c.backchannel_logout_uri === 'string' ? [c.backchannel_logout_uri] : []))),
    jwks: keys.jwks as Configuration['jwks'],
    cookies: {
      // __Host-_session, __Secure-_interaction and __Secure-_interaction_resume over https (src/cookie-names.ts).
      names: { session: cookieName.session, interaction: cookieName.interaction, resume: cookieName.resume },
      keys: keys.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    claims: {
      amr: null,
      acr: null,
      auth_time: null,
      sid: null,
      // amr and acr belong to every ID token: relying parties read how the user signed in.
      openid: ['sub', 'amr', 'acr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    // Pages, emails and texts follow ui_locales (see interactions/http/locale.ts).
    discovery: { ui_locales_supported: [...LOCALES] },
    acrValues: [...ACR_VALUES],
    // ID tokens carry the claims of their scopes, not only the userinfo endpoint.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.type = 'html';
          ctx.body = logoutPage(branding, form);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.type = 'html';
          ctx.body = loggedOutPage(branding);
        },
      },
    },
    pkce: { required: () => true },
    ttl,
    interactions: {
      policy: policy(services),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(ctx, sub) {
      const account = await guard(requestAccounts.get(sub, ctx));
      if (!account || account.status !== 'active') return undefined;
      const loaded: LoadedAccount = { accountId: sub, claims: () => accountClaims(account), record: account };
      return loaded;
    },
    // First-party clients get their grant without a consent page.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { oidc } = ctx;
      const clientId = oidc.client!.clientId;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!clients.firstParty.has(clientId)) return existing;
      const grant = existing ?? new oidc.provider.Grant({ clientId, accountId: oidc.session!.accountId! });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      grant.addOIDCClaims([...oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    issueRefreshToken: async (ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || clients.firstParty.has(client.clientId)),
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = errorPage(branding, userMessage({ id: out.error, message: out.error_description ?? out.error, standardMessage: true }, branding), out.error);
    },
  };

  const provider = new Provider(config.ISSUER, configuration);
  provider.proxy = config.TRUST_PROXY_HOPS > 0;
  return provider;
}
