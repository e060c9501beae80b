import { html } from '../html.ts';
import { alert, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';

export interface ReconfirmView {
  branding: Branding;
  action: string;
  csrf: string;
  days: number;
  methods: { label: string; masked: string }[];
  errors?: FormErrors;
}

export function reconfirmPage(v: ReconfirmView): string {
  return layout({
    title: t('reconfirm.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('reconfirm.lead', { days: v.days })}</p>
${alert(v.errors?.form)}
<ul class="methods">${v.methods.map((m) => html`<li><strong>${m.label}</strong>: ${m.masked}</li>`)}</ul>
<form method="post" action="${v.action}">
<input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="action" value="confirm">
<div class="actions"><button type="submit">${t('reconfirm.yes')}</button>
<a class="button secondary" aria-describedby="change-hint" href="/account/security">${t('reconfirm.change')}</a></div>
</form>
<p class="hint" id="change-hint">${t('reconfirm.change_hint')}</p>`,
  });
}
