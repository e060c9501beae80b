import { html } from '../html.ts';
import { abortForm, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';

export interface ConsentView {
  branding: Branding;
  uid: string;
  csrf: string;
  clientName: string;
  scopes: string[];
  claims: string[];
}

export function consentPage(v: ConsentView): string {
  return layout({
    title: t('consent.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('consent.lead', { client: v.clientName })}</p>
<ul class="scopes">${v.scopes.map((s) => html`<li>${t(`scope.${s}`)}</li>`)}${v.claims.map((c) => html`<li>${c}</li>`)}</ul>
<form method="post" action="/interaction/${v.uid}/consent">
<input type="hidden" name="csrf" value="${v.csrf}">
<div class="actions"><button type="submit">${t('consent.allow')}</button></div>
</form>
${abortForm(v.uid, v.csrf, t('consent.deny'))}`,
  });
}
