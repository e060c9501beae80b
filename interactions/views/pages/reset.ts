/** Pages of "Forgot password?" (outside /interaction/: a reset must survive the sign-in it came from). */
import { html } from '../html.ts';
import { fieldError, formErrors, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';
import type { ResetView } from '../../../src/domain/reset/reset-flows.ts';

export function identifyPage(v: { branding: Branding; csrf: string; returnId?: string; identifier?: string; errors?: FormErrors }): string {
  const f = formErrors(v.errors, [{ name: 'identifier', skipFocus: !!v.identifier }]);
  return layout({
    title: t('reset.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('reset.identify_lead')}</p>
${f.summary}
<form method="post" action="/reset" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
${v.returnId ? html`<input type="hidden" name="r" value="${v.returnId}">` : ''}
<label for="identifier">${t('reset.identifier')}</label>
<input type="text" id="identifier" name="identifier" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="320" value="${v.identifier ?? ''}"${f.describe('identifier')}${f.autofocus('identifier')}>
${fieldError('identifier', f.error('identifier'))}
<div class="actions"><button type="submit">${t('reset.start')}</button></div>
</form>`,
  });
}

export function choosePage(v: { branding: Branding; csrf: string; view: ResetView; errors?: FormErrors }): string {
  const usable = v.view.methods.filter((m) => m.available);
  const f = formErrors(v.errors, usable.length ? [{ name: 'ref', id: `ref-${usable[0]!.ref}`, skipFocus: true }] : []);
  return layout({
    title: t('reset.choose_title'),
    branding: v.branding,
    body: html`<p class="lead">${t('reset.choose_lead', { done: v.view.proofsDone, need: v.view.proofsRequired })}</p>
${f.summary}
${usable.length === 0
  ? html`<p>${t('reset.choose_none')}</p>`
  : html`<form method="post" action="/reset/flow">
<input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="action" value="choose">
<fieldset${f.describeGroup('ref')}><legend>${t('register.choose')}</legend>
${usable.map(
  (m, i) => html`<div class="choice"><input type="radio" name="ref" id="ref-${m.ref}" value="${m.ref}"${i === 0 ? ' checked' : ''}${f.autofocus(`ref-${m.ref}`)}>
<label for="ref-${m.ref}">${t(`method.${m.kind}`)}${m.masked === t(`method.${m.kind}`) ? '' : html`<span class="hint"> – ${m.masked}</span>`}</label></div>${
  // A mobile phone can also call with the code (no SMS reception, or a landline forward).
  m.kind === 'mobile_phone'
    ? html`
<div class="choice"><input type="radio" name="ref" id="ref-${m.ref}-voice" value="${m.ref}.voice">
<label for="ref-${m.ref}-voice">${t('reset.call_instead', { method: t(`method.${m.kind}`) })}<span class="hint"> – ${m.masked}</span></label></div>`
    : ''
}`,
)}
</fieldset>${fieldError('ref', f.error('ref'))}
<div class="actions"><button type="submit">${t('reset.start')}</button></div>
</form>`}`,
  });
}

/**
 * The page behind the link of an admin-started reset (`rekey users reset`): asks for the code
 * from the same email. Opening the link does nothing by itself (mail scanners open links).
 */
export function continuePage(v: { branding: Branding; csrf: string; handle: string; errors?: FormErrors }): string {
  const f = formErrors(v.errors, [{ name: 'code' }]);
  return layout({
    title: t('reset.continue_title'),
    branding: v.branding,
    body: html`<p class="lead">${t('reset.continue_lead')}</p>
${f.summary}
<form method="post" action="/reset/continue" novalidate>
<input type="hidden" name="csrf" value="${v.csrf}">
<input type="hidden" name="flow" value="${v.handle}">
<label for="code">${t('reset.continue_code')}</label>
<input type="text" id="code" name="code" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="64"${f.describe('code')}${f.autofocus('code')}>
${fieldError('code', f.error('code'))}
<div class="actions"><button type="submit">${t('reset.start')}</button></div>
</form>
<p class="links"><a href="/reset">${t('reset.start_over')}</a></p>`,
  });
}

export function resetDonePage(v: { branding: Branding; signinUrl?: string; appName?: string; confirmationSent?: boolean }): string {
  const confirmation = v.confirmationSent === true ? t('reset.done_mail_sent') : v.confirmationSent === false ? t('reset.done_mail_failed') : '';
  return layout({
    title: t('reset.done_title'),
    branding: v.branding,
    body: html`<p class="lead" role="status">${t('reset.done_lead')}${confirmation ? ` ${confirmation}` : ''}</p>
${v.signinUrl ? html`<div class="actions"><a class="button" href="${v.signinUrl}">${v.appName ? t('reset.back_to_app', { app: v.appName }) : t('reset.back_to_signin')}</a></div>` : html`<p>${t('reset.done_no_client')}</p>`}`,
  });
}

export function resetExpiredPage(v: { branding: Branding; message: string }): string {
  return layout({
    title: t('reset.title'),
    branding: v.branding,
    body: html`<p class="lead" role="alert">${v.message}</p><div class="actions"><a class="button" href="/reset">${t('reset.start_over')}</a></div>`,
  });
}
