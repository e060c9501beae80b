import { html } from '../html.ts';
import { abortForm, fieldError, formErrors, layout, type Branding } from '../layout.ts';
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
  const f = formErrors(v.errors, [{ name: 'identifier', skipFocus: !!v.identifier }, { name: 'password' }]);
  return layout({
    title: t('signin.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('signin.lead', { client: v.clientName })}</p>
${f.summary}
<form method="post" action="/interaction/${v.uid}/password" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<label for="identifier">${t('signin.identifier')}</label>
<input type="text" id="identifier" name="identifier" autocomplete="username" autocapitalize="none" spellcheck="false" required
  value="${v.identifier ?? ''}"${f.describe('identifier')}${f.autofocus('identifier')}>
${fieldError('identifier', f.error('identifier'))}
<label for="password">${t('signin.password')}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${f.describe('password')}${f.autofocus('password')}>
${fieldError('password', f.error('password'))}
<div class="actions"><button type="submit">${t('signin.submit')}</button>${v.forgot ? html`<a href="/interaction/${v.uid}/forgot">${t('signin.forgot')}</a>` : ''}</div>
</form>
${abortForm(v.uid, v.csrf, t('signin.cancel'))}`,
  });
}
