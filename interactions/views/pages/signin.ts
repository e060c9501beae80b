import { html } from '../html.ts';
import { abortForm, alert, fieldError, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';

export interface SigninView {
  branding: Branding;
  uid: string;
  csrf: string;
  clientName: string;
  identifier?: string;
  errors?: FormErrors;
  /** "Forgot password?" shows when self-service reset is on. */
  forgot?: boolean;
}

export function signinPage(v: SigninView): string {
  const idErr = v.errors?.fields?.identifier;
  const pwErr = v.errors?.fields?.password;
  return layout({
    title: t('signin.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('signin.lead', { client: v.clientName })}</p>
${alert(v.errors?.form)}
<form method="post" action="/interaction/${v.uid}/password" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<label for="identifier">${t('signin.identifier')}</label>
<input type="text" id="identifier" name="identifier" autocomplete="username" autocapitalize="none" spellcheck="false" required
  value="${v.identifier ?? ''}"${idErr ? html` aria-invalid="true" aria-describedby="identifier-error"` : ''}${!v.identifier || idErr ? html` autofocus` : ''}>
${fieldError('identifier', idErr)}
<label for="password">${t('signin.password')}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${pwErr ? html` aria-invalid="true" aria-describedby="password-error"` : ''}${v.identifier && !idErr ? html` autofocus` : ''}>
${fieldError('password', pwErr)}
<div class="actions"><button type="submit">${t('signin.submit')}</button>${v.forgot ? html`<a href="/interaction/${v.uid}/forgot">${t('signin.forgot')}</a>` : ''}</div>
</form>
${abortForm(v.uid, v.csrf, t('signin.cancel'))}`,
  });
}
