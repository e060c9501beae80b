import { html } from '../html.ts';
import { alert, fieldError, layout, type Branding } from '../layout.ts';
import { t } from '../../i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';

export interface ChangePasswordView {
  branding: Branding;
  action: string;
  csrf: string;
  login: string;
  minLength: number;
  errors?: FormErrors;
  lead?: string;
}

export function changePasswordPage(v: ChangePasswordView): string {
  const newErr = v.errors?.fields?.password;
  const confErr = v.errors?.fields?.confirm;
  return layout({
    title: t('change_password.title'),
    branding: v.branding,
    body: html`<p class="lead">${v.lead ?? t('change_password.lead')}</p>
${alert(v.errors?.form)}
<form method="post" action="${v.action}" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<input type="text" name="username" value="${v.login}" autocomplete="username" hidden>
<label for="password">${t('change_password.new')}</label>
<input type="password" id="password" name="password" autocomplete="new-password" required aria-describedby="password-hint${newErr ? ' password-error' : ''}"${newErr ? html` aria-invalid="true" autofocus` : ''}${!newErr && !confErr ? html` autofocus` : ''}>
<p class="hint" id="password-hint">${t('change_password.hint', { min: v.minLength })}</p>
${fieldError('password', newErr)}
<label for="confirm">${t('change_password.confirm')}</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" required${confErr ? html` aria-invalid="true" aria-describedby="confirm-error" autofocus` : ''}>
${fieldError('confirm', confErr)}
<div class="actions"><button type="submit">${t('change_password.submit')}</button></div>
</form>`,
  });
}
