/**
 * The name of every cookie rekey sets, its own and oidc-provider's, decided here and only here
 * (OWASP ASVS 5.0 3.3.1, 3.3.3).
 *
 * When ISSUER is https (rekey behind its TLS proxy) every cookie is Secure and carries a prefix
 * the browser enforces, so neither a page on another subdomain nor a plain-http response can
 * set, shadow or widen it:
 * - `__Host-`: Secure, `Path=/`, no `Domain`. Every cookie but two: rekey's own cookies are all
 *   set with `Path=/` (their names are distinct, so no path scoping is needed), and so is
 *   oidc-provider's session cookie.
 * - `__Secure-`: only oidc-provider's interaction cookies (`interaction`, `resume`), which it
 *   scopes to one sign-in's path (`/interaction/<uid>`, `/auth/<uid>`) so that sign-ins in
 *   several tabs do not overwrite each other; `__Host-` would forbid that path.
 *
 * Over plain http (development, ISSUER http://…) browsers refuse both prefixes, so the names
 * stay bare. A signed cookie's signature cookie is the name plus `.sig`, with the same prefix
 * and attributes.
 */

/** Cookies for the whole host (`Path=/`): `__Host-` over https. */
const HOST_COOKIES = {
  /** oidc-provider's session (`cookies.names.session`). */
  session: '_session',
  /** The language a relying party asked for with ui_locales. */
  locale: 'rekey.locale',
  /** "Don't ask again on this device". */
  device: 'rekey_device',
  resetFlow: 'rekey_reset',
  resetStartCsrf: 'rekey_reset_start',
  resetContinueCsrf: 'rekey_reset_continue',
  inviteCsrf: 'invite_csrf',
  changePasswordCsrf: 'account_password_csrf',
  /** The sign-in transaction of My security info, rekey's own relying party. */
  accountTx: 'rekey_account_tx',
  adminTx: 'rekey_admin_tx',
  adminSession: 'rekey_admin',
  adminCsrf: 'rekey_admin_csrf',
  demoTx: 'demo_tx',
  demoSession: 'demo_session',
} as const;

/** oidc-provider's cookies scoped to one sign-in's path: `__Secure-` over https. */
const PATH_SCOPED_COOKIES = {
  /** `cookies.names.interaction`, at `/interaction/<uid>`. */
  interaction: '_interaction',
  /** `cookies.names.resume`, at `/auth/<uid>`. */
  resume: '_interaction_resume',
} as const;

export type CookieNames = { readonly [K in keyof typeof HOST_COOKIES | keyof typeof PATH_SCOPED_COOKIES]: string };

/** Whether cookie names carry the `__Host-`/`__Secure-` prefixes: when ISSUER is https. */
export function prefixedCookies(issuer: string): boolean {
  return issuer.startsWith('https:');
}

/** The cookie names for this ISSUER. */
export function cookieNames(issuer: string): CookieNames {
  const secure = prefixedCookies(issuer);
  const prefix = (p: string, names: Record<string, string>) => Object.fromEntries(Object.entries(names).map(([k, v]) => [k, secure ? `${p}${v}` : v]));
  return Object.freeze({ ...prefix('__Host-', HOST_COOKIES), ...prefix('__Secure-', PATH_SCOPED_COOKIES) }) as CookieNames;
}
