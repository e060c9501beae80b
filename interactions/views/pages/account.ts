/**
 * Pages of "My security info" (/account/security): the sign-in prompt, the two proof steps
 * (password, then one registered method), the management page and regenerated recovery
 * codes. Adding a method reuses the chooser / input / proof pages of security-setup.ts. The
 * management page also lists the remembered devices ("don't ask again on this device"), each
 * with a "Forget" button, and "Forget all devices".
 */
import { html, type Html } from '../html.ts';
import { fieldError, formErrors, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';

export const ACCOUNT_PATHS = {
  page: '/account/security',
  login: '/account/login',
  callback: '/account/callback',
  password: '/account/security/password',
  verify: '/account/security/verify',
  add: '/account/security/add',
  remove: '/account/security/remove',
  regenerate: '/account/security/regenerate',
  codesSaved: '/account/security/codes-saved',
  forgetDevice: '/account/security/devices/forget',
  forgetDevices: '/account/security/devices/forget-all',
  endOtherSessions: '/account/security/sessions/end-others',
  endSession: '/account/security/sessions/end',
} as const;

/** Every page of a signed-in user offers to sign out (rekey's own sign-out confirmation). */
const signOut = (): Html => html`<p class="links"><a href="/session/end">${t('logout.yes')}</a></p>`;

const hidden = (csrf: string, action?: string): Html =>
  html`<input type="hidden" name="csrf" value="${csrf}">${action ? html`<input type="hidden" name="action" value="${action}">` : ''}`;

function notice(message: string | undefined): Html {
  return message ? html`<div class="notice" role="status"><p>${message}</p></div>` : html``;
}

/** No session: sign in first (or again, for a first method, which sign-in sets up with its bootstrap proof). */
export function accountSigninPromptPage(v: { branding: Branding; firstMethod?: boolean }): string {
  return layout({
    title: v.firstMethod ? t('account.first_method.title') : t('account.signin.title'),
    branding: v.branding,
    body: html`<p class="lead">${v.firstMethod ? t('account.first_method.lead') : t('account.signin.lead', { product: v.branding.productName })}</p>
<div class="actions"><a class="button" href="${ACCOUNT_PATHS.login}">${v.firstMethod ? t('account.first_method.button') : t('account.signin.button')}</a></div>`,
  });
}

export interface AccountPasswordView {
  branding: Branding;
  csrf: string;
  login: string;
  errors?: FormErrors;
}

/** Step 1 of the proof: the password (failures count toward the sign-in lockout). */
export function accountPasswordPage(v: AccountPasswordView): string {
  const f = formErrors(v.errors, [{ name: 'password' }]);
  return layout({
    title: t('account.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('account.proof.lead')}</p>
<h2>${t('account.proof.password_step')}</h2>
${f.summary}
<form method="post" action="${ACCOUNT_PATHS.password}" novalidate>${hidden(v.csrf)}
<input type="text" name="username" autocomplete="username" value="${v.login}" readonly hidden>
<label for="password">${t('signin.password')}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${f.describe('password')}${f.autofocus('password')}>
${fieldError('password', f.error('password'))}
<div class="actions"><button type="submit">${t('register.next')}</button></div>
</form>
${signOut()}`,
  });
}

export interface AccountPickMethodView {
  branding: Branding;
  csrf: string;
  methods: { id: string; label: string; masked: string }[];
  errors?: FormErrors;
}

/** Step 2 of the proof: which registered method to prove. */
export function accountPickMethodPage(v: AccountPickMethodView): string {
  // A preset choice: no autofocus (it would skip the lead), unless the choice is in error.
  const f = formErrors(v.errors, v.methods.length ? [{ name: 'methodId', id: `method-${v.methods[0]!.id}`, skipFocus: true }] : []);
  return layout({
    title: t('account.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('account.proof.method_lead')}</p>
${f.summary}
<form method="post" action="${ACCOUNT_PATHS.verify}">${hidden(v.csrf, 'start')}
<fieldset${f.describeGroup('methodId')}><legend>${t('account.proof.method_step')}</legend>
${v.methods.map(
  (m, i) => html`<div class="choice"><input type="radio" name="methodId" id="method-${m.id}" value="${m.id}"${i === 0 ? ' checked' : ''}${f.autofocus(`method-${m.id}`)}>
<label for="method-${m.id}">${m.label}<span class="hint"> – ${m.masked}</span></label></div>`,
)}
</fieldset>${fieldError('methodId', f.error('methodId'))}
<div class="actions"><button type="submit">${t('register.next')}</button></div></form>
${signOut()}`,
  });
}

export interface AccountManageView {
  branding: Branding;
  csrf: string;
  name: string;
  methods: { id: string; label: string; masked: string }[];
  need: number;
  canAdd: boolean;
  hasRecoveryCodes: boolean;
  minutes: number;
  /** Remembered devices; the section is left out when undefined (the feature is off and none are left). */
  devices?: { id: string; label: string; created: number; expires: number; current?: boolean }[];
  notice?: string;
  /** After a method was added or removed: offer to end every other session (this one stays). */
  offerEndOthers?: boolean;
  /** The account's sessions ("Where you are signed in"): `handle` names one in the End form. */
  sessions?: { handle: string; signedInAt: number; expiresAt?: number; current: boolean }[];
  errors?: FormErrors;
}

/** A date (UTC), e.g. 2025-03-01. */
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** A time (UTC), e.g. 2025-03-01 14:05 UTC. */
export const minute = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Where the account is signed in: every session, this browser marked; each other one can be ended. */
function sessionsSection(csrf: string, sessions: NonNullable<AccountManageView['sessions']>): Html {
  return html`<h2>${t('account.sessions.title')}</h2>
<p class="hint">${t('account.sessions.lead')}</p>
<ul class="sessions">${sessions.map(
    (s) => html`<li>${t('account.sessions.dates', { signedIn: minute(s.signedInAt), expires: s.expiresAt ? minute(s.expiresAt) : '–' })}${s.current
      ? html` <strong>(${t('account.sessions.current')})</strong>`
      : html`
<form method="post" action="${ACCOUNT_PATHS.endSession}" class="links">${hidden(csrf)}<input type="hidden" name="session" value="${s.handle}">
<button type="submit" class="secondary" aria-label="${t('account.sessions.end_label', { signedIn: minute(s.signedInAt) })}">${t('account.sessions.end')}</button></form>`}</li>`,
  )}</ul>`;
}

/** Remembered devices: each can be forgotten, or all at once. */
function devicesSection(csrf: string, devices: NonNullable<AccountManageView['devices']>): Html {
  return html`<h2>${t('account.devices.title')}</h2>
<p class="hint">${t('account.devices.lead')}</p>
${devices.length
  ? html`<ul class="devices">${devices.map(
      (d) => html`<li><strong>${d.label}</strong>${d.current ? html` <span class="hint">(${t('account.devices.current')})</span>` : ''}: ${t('account.devices.dates', { created: day(d.created), expires: day(d.expires) })}
<form method="post" action="${ACCOUNT_PATHS.forgetDevice}" class="links">${hidden(csrf)}<input type="hidden" name="deviceId" value="${d.id}">
<button type="submit" class="secondary" aria-label="${t('account.devices.forget_label', { device: d.label })}">${t('account.devices.forget')}</button></form></li>`,
    )}</ul>
<form method="post" action="${ACCOUNT_PATHS.forgetDevices}">${hidden(csrf)}<div class="actions"><button type="submit" class="secondary">${t('account.devices.forget_all')}</button></div></form>`
  : html`<p>${t('account.devices.none')}</p>`}`;
}

/** With a recent proof: the registered methods (masked) and what can be changed. */
export function accountManagePage(v: AccountManageView): string {
  return layout({
    title: t('account.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('account.manage.lead', { name: v.name, minutes: v.minutes })}</p>
${notice(v.notice)}
${v.offerEndOthers
  ? html`<form method="post" action="${ACCOUNT_PATHS.endOtherSessions}">${hidden(v.csrf)}
<p class="hint" id="end-others-hint">${t('account.sessions.end_others_lead')}</p>
<div class="actions"><button type="submit" aria-describedby="end-others-hint">${t('account.sessions.end_others')}</button></div></form>`
  : ''}
${formErrors(v.errors, []).summary}
<h2>${t('account.manage.registered')}</h2>
${v.methods.length
  ? html`<ul class="methods">${v.methods.map(
      (m) => html`<li><strong>${m.label}</strong>${m.masked === m.label ? '' : html`: ${m.masked}`}
<form method="post" action="${ACCOUNT_PATHS.remove}" class="links">${hidden(v.csrf)}<input type="hidden" name="methodId" value="${m.id}">
<button type="submit" class="secondary" aria-label="${t('account.manage.remove_label', { method: m.masked === m.label ? m.label : `${m.label} – ${m.masked}` })}">${t('account.manage.remove')}</button></form></li>`,
    )}</ul>`
  : html`<p>${t('account.manage.none')}</p>`}
<p class="hint">${t('account.manage.replace_hint', { need: v.need })}</p>
${v.canAdd
  ? html`<form method="post" action="${ACCOUNT_PATHS.add}">${hidden(v.csrf, 'open')}<div class="actions"><button type="submit">${t('account.manage.add')}</button></div></form>`
  : ''}
${v.hasRecoveryCodes
  ? html`<form method="post" action="${ACCOUNT_PATHS.regenerate}">${hidden(v.csrf)}
<p class="hint" id="regenerate-hint">${t('account.manage.regenerate_hint')}</p>
<div class="actions"><button type="submit" class="secondary" aria-describedby="regenerate-hint">${t('account.manage.regenerate')}</button></div></form>`
  : ''}
${v.devices ? devicesSection(v.csrf, v.devices) : ''}
${v.sessions?.length ? sessionsSection(v.csrf, v.sessions) : ''}
<p class="links"><a href="/account/password">${t('account.manage.change_password')}</a></p>
${signOut()}`,
  });
}

/** Regenerated recovery codes (the old set no longer works), shown until the user confirms saving them. */
export function accountNewCodesPage(v: { branding: Branding; csrf: string; codes: string[]; errors?: FormErrors }): string {
  // The checkbox comes after the codes, which must be read first: focus only when it is in error.
  const f = formErrors(v.errors, [{ name: 'saved', skipFocus: true }]);
  return layout({
    title: t('account.codes.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('account.codes.lead')}</p>
${f.summary}
<ol class="codes">${v.codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
<form method="post" action="${ACCOUNT_PATHS.codesSaved}" novalidate>${hidden(v.csrf)}
<div class="choice"><input type="checkbox" id="saved" name="saved" value="yes" required${f.describe('saved')}${f.autofocus('saved')}><label for="saved">${t('register.codes_saved')}</label></div>${fieldError('saved', f.error('saved'))}
<div class="actions"><button type="submit">${t('code.submit')}</button></div></form>`,
  });
}

/** A "cancel adding" form appended to the reused chooser page. */
export function cancelAddForm(csrf: string): Html {
  return html`<form method="post" action="${ACCOUNT_PATHS.add}" class="links">${hidden(csrf, 'cancel')}<button type="submit" class="secondary">${t('account.add.cancel')}</button></form>`;
}
