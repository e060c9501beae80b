import { html } from '../html.ts';
import { fieldError, formErrors, layout, type Branding, type FormField } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';

export interface ChangePasswordView {
  branding: Branding;
  action: string;
  csrf: string;
  login: string;
  minLength: number;
  errors?: FormErrors;
  lead?: string;
  /** Asks for the current password first (field `current`), for a signed-in user changing it. */
  current?: boolean;
  /** The submit button's label; default "Set password and continue". */
  submit?: string;
}

export function changePasswordPage(v: ChangePasswordView): string {
  const fields: FormField[] = [...(v.current ? [{ name: 'current' }] : []), { name: 'password' }, { name: 'confirm' }];
  // The first field with an error gets the focus; without errors the first field.
  const f = formErrors(v.errors, fields);
  return layout({
    title: t('change_password.title'),
    branding: v.branding,
    body: html`<p class="lead">${v.lead ?? t('change_password.lead')}</p>
${f.summary}
<form method="post" action="${v.action}" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<input type="text" name="username" value="${v.login}" autocomplete="username" hidden>
${
  v.current
    ? html`<label for="current">${t('change_password.current')}</label>
<input type="password" id="current" name="current" autocomplete="current-password" required${f.describe('current')}${f.autofocus('current')}>
${fieldError('current', f.error('current'))}
`
    : ''
}<label for="password">${t('change_password.new')}</label>
<input type="password" id="password" name="password" autocomplete="new-password" required${f.describe('password', 'password-hint')}${f.autofocus('password')}>
<p class="hint" id="password-hint">${t('change_password.hint', { min: v.minLength })}</p>
${fieldError('password', f.error('password'))}
<label for="confirm">${t('change_password.confirm')}</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" required${f.describe('confirm')}${f.autofocus('confirm')}>
${fieldError('confirm', f.error('confirm'))}
<div class="actions"><button type="submit">${v.submit ?? t('change_password.submit')}</button></div>
</form>`,
  });
}
