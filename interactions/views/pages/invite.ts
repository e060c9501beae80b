/** The invitation page: identifier, invitation code and a new password; and its success page. */
import { html, type Html } from '../html.ts';
import { alert, fieldError, layout, type Branding } from '../layout.ts';
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

/** aria-describedby/aria-invalid of a field: its hint (if any) and its error (if any). */
function described(name: string, hint: boolean, error: string | undefined): Html {
  const ids = [hint ? `${name}-hint` : '', error ? `${name}-error` : ''].filter(Boolean).join(' ');
  return html`${ids ? html` aria-describedby="${ids}"` : ''}${error ? html` aria-invalid="true"` : ''}`;
}

export function invitePage(v: InviteView): string {
  const f = v.errors?.fields ?? {};
  // Focus the first field with an error, or the first empty one.
  const first = (['identifier', 'code', 'password', 'confirm'] as const).find((n) => f[n]) ?? (v.identifier ? 'code' : 'identifier');
  const focus = (name: string): Html => (name === first ? html` autofocus` : html``);
  return layout({
    title: t('invite.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('invite.lead')}</p>
${alert(v.errors?.form)}
<form method="post" action="/invite" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<label for="identifier">${t('invite.identifier')}</label>
<input type="text" id="identifier" name="identifier" value="${v.identifier ?? ''}" autocomplete="username" autocapitalize="none" spellcheck="false" required${described('identifier', false, f.identifier)}${focus('identifier')}>
${fieldError('identifier', f.identifier)}
<label for="code">${t('invite.code')}</label>
<input type="text" id="code" name="code" value="${v.code ?? ''}" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required${described('code', true, f.code)}${focus('code')}>
<p class="hint" id="code-hint">${t('invite.code_hint')}</p>
${fieldError('code', f.code)}
<label for="password">${t('change_password.new')}</label>
<input type="password" id="password" name="password" autocomplete="new-password" required${described('password', true, f.password)}${focus('password')}>
<p class="hint" id="password-hint">${t('change_password.hint', { min: v.minLength })}</p>
${fieldError('password', f.password)}
<label for="confirm">${t('change_password.confirm')}</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" required${described('confirm', false, f.confirm)}${focus('confirm')}>
${fieldError('confirm', f.confirm)}
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
