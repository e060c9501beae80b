import { html } from '../html.ts';
import { abortForm, fieldError, formErrors, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';
import type { MethodKind } from '../../../src/domain/methods/types.ts';

export interface SecondFactorChooserView {
  branding: Branding;
  uid: string;
  csrf: string;
  action: string;
  lead: string;
  methods: { ref: string; kind: MethodKind; masked: string }[];
  /** Phones may be asked to call instead of text. */
  errors?: FormErrors;
}

export function secondFactorChooser(v: SecondFactorChooserView): string {
  // A preset choice: no autofocus (it would skip the lead), unless the choice is in error.
  const f = formErrors(v.errors, v.methods.length ? [{ name: 'ref', id: `ref-${v.methods[0]!.ref}`, skipFocus: true }] : []);
  return layout({
    title: t('second_factor.title'),
    branding: v.branding,
    body: html`<p class="lead">${v.lead}</p>
${f.summary}
<form method="post" action="${v.action}">
<input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="action" value="choose">
<fieldset${f.describeGroup('ref')}><legend>${t('register.choose')}</legend>
${v.methods.map(
  (m, i) => html`<div class="choice"><input type="radio" name="ref" id="ref-${m.ref}" value="${m.ref}"${i === 0 ? ' checked' : ''}${f.autofocus(`ref-${m.ref}`)}>
<label for="ref-${m.ref}">${t(`method.${m.kind}`)}${m.masked === t(`method.${m.kind}`) ? '' : html`<span class="hint"> – ${m.masked}</span>`}</label></div>${
    m.kind === 'mobile_phone'
      ? html`<div class="choice"><input type="radio" name="ref" id="ref-${m.ref}-voice" value="${m.ref}.voice">
<label for="ref-${m.ref}-voice">${t('method.mobile_phone')}<span class="hint"> – ${m.masked}, ${t('register.channel_voice')}</span></label></div>`
      : ''
  }`,
)}
</fieldset>${fieldError('ref', f.error('ref'))}
<div class="actions"><button type="submit">${t('code.submit')}</button></div>
</form>
${abortForm(v.uid, v.csrf, t('signin.cancel'))}`,
  });
}
