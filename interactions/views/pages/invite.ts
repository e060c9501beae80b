/** The invitation page: identifier, invitation code and a new password; and its success page. */
import { html } from '../html.ts';
import { fieldError, formErrors, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';

export interface InviteFormErrors {
  form?: string;
  fields?: Partial<Record<'identifier' | 'code' | 'password' | 'confirm', string>>;
}

export interface InviteView {
  branding: Branding;
  csrf: string;
  minLength: number;
  identifier?: string;
  /** Echoed only after the code was found right (a password problem), so it need not be typed again. */
  code?: string;
  errors?: InviteFormErrors;
}

export function invitePage(v: InviteView): string {
  // Focus the first field with an error, or the first empty one.
  const f = formErrors(v.errors, [
    { name: 'identifier', skipFocus: !!v.identifier },
    { name: 'code', skipFocus: !!v.code },
    { name: 'password' },
    { name: 'confirm' },
  ]);
  return layout({
    title: t('invite.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('invite.lead')}</p>
${f.summary}
<form method="post" action="/invite" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<label for="identifier">${t('invite.identifier')}</label>
<input type="text" id="identifier" name="identifier" value="${v.identifier ?? ''}" autocomplete="username" autocapitalize="none" spellcheck="false" required${f.describe('identifier')}${f.autofocus('identifier')}>
${fieldError('identifier', f.error('identifier'))}
<label for="code">${t('invite.code')}</label>
<input type="text" id="code" name="code" value="${v.code ?? ''}" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required${f.describe('code', 'code-hint')}${f.autofocus('code')}>
<p class="hint" id="code-hint">${t('invite.code_hint')}</p>
${fieldError('code', f.error('code'))}
<label for="password">${t('change_password.new')}</label>
<input type="password" id="password" name="password" autocomplete="new-password" required${f.describe('password', 'password-hint')}${f.autofocus('password')}>
<p class="hint" id="password-hint">${t('change_password.hint', { min: v.minLength })}</p>
${fieldError('password', f.error('password'))}
<label for="confirm">${t('change_password.confirm')}</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" required${f.describe('confirm')}${f.autofocus('confirm')}>
${fieldError('confirm', f.error('confirm'))}
<div class="actions"><button type="submit">${t('invite.submit')}</button></div>
</form>`,
  });
}

export function inviteDonePage(branding: Branding): string {
  return layout({
    title: t('invite.done_title'),
    branding,
    body: html`<p role="status">${t('invite.done')}</p>`,
  });
}
