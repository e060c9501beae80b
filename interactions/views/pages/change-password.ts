import { html } from '../html.ts';
import { alert, fieldError, layout, type Branding } from '../layout.ts';
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

/** A catalog message, or `fallback` while the catalog has no entry for `key`. */

export function changePasswordPage(v: ChangePasswordView): string {
  const curErr = v.current ? v.errors?.fields?.current : undefined;
  const newErr = v.errors?.fields?.password;
  const confErr = v.errors?.fields?.confirm;
  // The first field with an error gets the focus; without errors the first field.
  const focusCurrent = !!v.current && (!!curErr || (!newErr && !confErr));
  const focusNew = !focusCurrent && (!!newErr || !confErr);
  const focusConfirm = !focusCurrent && !focusNew;
  return layout({
    title: t('change_password.title'),
    branding: v.branding,
    body: html`<p class="lead">${v.lead ?? t('change_password.lead')}</p>
${alert(v.errors?.form)}
<form method="post" action="${v.action}" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<input type="text" name="username" value="${v.login}" autocomplete="username" hidden>
${
  v.current
    ? html`<label for="current">${t('change_password.current')}</label>
<input type="password" id="current" name="current" autocomplete="current-password" required${curErr ? html` aria-invalid="true" aria-describedby="current-error"` : ''}${focusCurrent ? html` autofocus` : ''}>
${fieldError('current', curErr)}
`
    : ''
}<label for="password">${t('change_password.new')}</label>
<input type="password" id="password" name="password" autocomplete="new-password" required aria-describedby="password-hint${newErr ? ' password-error' : ''}"${newErr ? html` aria-invalid="true"` : ''}${focusNew ? html` autofocus` : ''}>
<p class="hint" id="password-hint">${t('change_password.hint', { min: v.minLength })}</p>
${fieldError('password', newErr)}
<label for="confirm">${t('change_password.confirm')}</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" required${confErr ? html` aria-invalid="true" aria-describedby="confirm-error"` : ''}${focusConfirm ? html` autofocus` : ''}>
${fieldError('confirm', confErr)}
<div class="actions"><button type="submit">${v.submit ?? t('change_password.submit')}</button></div>
</form>`,
  });
}
