/**
 * Pages of the sign-in stages that set up recovery methods: the bootstrap proof of a first
 * registration, the method chooser, each method's input and proof forms.
 */
import { html, raw, type Html } from '../html.ts';
import { abortForm, alert, fieldError, layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';
import type { FormErrors } from '../../signin/stage.ts';
import type { MethodKind, StepDisplay } from '../../../src/domain/methods/types.ts';

interface Base {
  branding: Branding;
  uid: string;
  csrf: string;
  /** POST target of this stage's forms. */
  action: string;
  errors?: FormErrors;
}

const hidden = (csrf: string, action: string): Html =>
  html`<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="${action}">`;

function input(name: string, label: string, errors: FormErrors | undefined, attrs: Html, hint?: string): Html {
  const err = errors?.fields?.[name];
  const described = [hint ? `${name}-hint` : '', err ? `${name}-error` : ''].filter(Boolean).join(' ');
  return html`<label for="${name}">${label}</label>
<input id="${name}" name="${name}" ${attrs}${described ? html` aria-describedby="${described}"` : ''}${err ? html` aria-invalid="true" autofocus` : ''}>
${hint ? html`<p class="hint" id="${name}-hint">${hint}</p>` : ''}${fieldError(name, err)}`;
}

const codeInput = (errors: FormErrors | undefined): Html =>
  input('code', t('code.label'), errors, html`type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="12" required${errors?.fields?.code ? '' : html` autofocus`}`);

export interface BootstrapView extends Base {
  sentTo?: string;
  mode: 'email' | 'tap';
}

export function bootstrapPage(v: BootstrapView): string {
  const lead = v.mode === 'email' ? (v.sentTo ? t('bootstrap.lead_email', { to: v.sentTo }) : t('bootstrap.no_email')) : t('bootstrap.lead_tap');
  return layout({
    title: t('bootstrap.title'),
    branding: v.branding,
    body: html`<p class="lead">${lead}</p>
${alert(v.errors?.form)}
${v.mode === 'email' && v.sentTo
  ? html`<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'code')}
${codeInput(v.errors)}
<div class="actions"><button type="submit">${t('code.submit')}</button></div></form>
<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'resend')}<button type="submit" class="secondary">${t('code.resend')}</button></form>
<h2>${t('bootstrap.use_tap')}</h2>`
  : ''}
<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'tap')}
${input('pass', t('bootstrap.tap'), v.errors, html`type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64"`)}
<div class="actions"><button type="submit" class="${v.mode === 'email' && v.sentTo ? 'secondary' : ''}">${t('code.submit')}</button></div></form>
${abortForm(v.uid, v.csrf, t('signin.cancel'))}`,
  });
}

export interface ChooserView extends Base {
  have: number;
  need: number;
  kinds: MethodKind[];
  registered: { label: string; masked: string }[];
  canPostpone: boolean;
}

export function chooserPage(v: ChooserView): string {
  return layout({
    title: t('register.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('register.lead', { need: v.need, have: v.have })}</p>
${alert(v.errors?.form)}
${v.registered.length ? html`<p>${t('register.done_list')}</p><ul>${v.registered.map((r) => html`<li>${r.label}: ${r.masked}</li>`)}</ul>` : ''}
<form method="post" action="${v.action}">${hidden(v.csrf, 'choose')}
<fieldset><legend>${t('register.choose')}</legend>
${v.kinds.map(
  (k, i) => html`<div class="choice"><input type="radio" name="kind" id="kind-${k}" value="${k}"${i === 0 ? ' checked' : ''}>
<label for="kind-${k}">${t(`method.${k}`)}<span class="hint"> – ${t(`method.${k}.hint`)}</span></label></div>`,
)}
</fieldset>
<div class="actions"><button type="submit">${t('register.next')}</button></div></form>
${v.canPostpone ? html`<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'postpone')}<button type="submit" class="secondary">${t('register.postpone')}</button></form>` : ''}`,
  });
}

export interface MethodInputView extends Base {
  kind: 'email' | 'mobile_phone' | 'office_phone';
  values: Record<string, string>;
}

export function methodInputPage(v: MethodInputView): string {
  const fields =
    v.kind === 'email'
      ? input('email', t('register.email'), v.errors, html`type="email" autocomplete="email" maxlength="254" required value="${v.values.email ?? ''}"${v.errors?.fields?.email ? '' : html` autofocus`}`)
      : html`${input('phone', t('register.phone'), v.errors, html`type="tel" autocomplete="tel" maxlength="32" required value="${v.values.phone ?? ''}"${v.errors?.fields?.phone ? '' : html` autofocus`}`, t('register.phone_hint'))}
${v.kind === 'office_phone' ? input('extension', t('register.extension'), v.errors, html`type="text" inputmode="numeric" maxlength="8" value="${v.values.extension ?? ''}"`) : ''}
<fieldset><legend>${t('register.channel')}</legend>
<div class="choice"><input type="radio" name="channel" id="channel-sms" value="sms"${v.kind === 'mobile_phone' ? ' checked' : ''}><label for="channel-sms">${t('register.channel_sms')}</label></div>
<div class="choice"><input type="radio" name="channel" id="channel-voice" value="voice"${v.kind === 'office_phone' ? ' checked' : ''}><label for="channel-voice">${t('register.channel_voice')}</label></div>
</fieldset>`;
  return layout({
    title: t(`method.${v.kind}`),
    branding: v.branding,
    body: html`${alert(v.errors?.form)}
<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'start')}
${fields}
<div class="actions"><button type="submit">${t('register.next')}</button></div></form>
<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'back')}<button type="submit" class="secondary">${t('register.back')}</button></form>`,
  });
}

export interface ProofView extends Base {
  kind: MethodKind;
  display: StepDisplay;
  /** Security questions to register: how many to pick. */
  questionCount?: number;
  /** Prefill after an error (never secrets). */
  values?: Record<string, string>;
  /** Offer "don't ask again on this device" (second factor only). */
  rememberDays?: number;
}

function questionsRegistration(v: ProofView): Html {
  const count = v.questionCount ?? 3;
  const options = v.display.questions ?? [];
  return html`<p class="lead">${t('register.questions_lead', { count })}</p>
${Array.from({ length: count }, (_, i) => {
  const n = i + 1;
  const q = `question_${n}`;
  const selected = v.values?.[q];
  return html`<label for="${q}">${t('register.question_n', { n })}</label>
<select id="${q}" name="${q}" required${v.errors?.fields?.[q] ? html` aria-invalid="true" aria-describedby="${q}-error"` : ''}>
${options.map((o, j) => html`<option value="${o.id}"${(selected ? selected === o.id : j === i) ? ' selected' : ''}>${o.text}</option>`)}
</select>${fieldError(q, v.errors?.fields?.[q])}
${input(`answer_${n}`, t('register.answer_n', { n }), v.errors, html`type="text" autocomplete="off" maxlength="80" required`)}`;
})}`;
}

function questionsChallenge(v: ProofView): Html {
  return html`${(v.display.questions ?? []).map(
    (q, i) => html`${input(`answer_${i + 1}`, q.text, v.errors, html`type="text" autocomplete="off" maxlength="80" required`)}`,
  )}`;
}

export function proofPage(v: ProofView & { registering: boolean }): string {
  let body: Html;
  switch (v.kind) {
    case 'authenticator_app':
      body = html`${v.display.qrSvg ? html`<p class="lead">${t('register.totp_lead')}</p><div class="qr">${raw(v.display.qrSvg)}</div>
<p>${t('register.totp_key')}: <code class="secret">${v.display.secretText ?? ''}</code></p>` : ''}
${codeInput(v.errors)}`;
      break;
    case 'recovery_codes':
      body = v.registering
        ? html`<p class="lead">${t('register.codes_lead')}</p><ol class="codes">${(v.display.codes ?? []).map((c) => html`<li><code>${c}</code></li>`)}</ol>
<div class="choice"><input type="checkbox" id="saved" name="saved" value="yes" required${v.errors?.fields?.saved ? html` aria-invalid="true" aria-describedby="saved-error"` : ''}><label for="saved">${t('register.codes_saved')}</label></div>${fieldError('saved', v.errors?.fields?.saved)}`
        : input('code', t('method.recovery_codes'), v.errors, html`type="text" autocomplete="one-time-code" autocapitalize="none" maxlength="32" required autofocus`);
      break;
    case 'security_questions':
      body = v.registering ? questionsRegistration(v) : questionsChallenge(v);
      break;
    default:
      body = html`<p class="lead">${t('code.sent', { to: v.display.sentTo ?? '' })}</p>${codeInput(v.errors)}`;
  }
  const resendable = v.kind === 'email' || v.kind === 'mobile_phone' || v.kind === 'office_phone';
  return layout({
    title: t(`method.${v.kind}`),
    branding: v.branding,
    body: html`${alert(v.errors?.form)}
<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'finish')}
${body}
${v.rememberDays ? html`<div class="choice"><input type="checkbox" id="remember" name="remember" value="yes"><label for="remember">${t('second_factor.remember', { days: v.rememberDays })}</label></div>` : ''}
<div class="actions"><button type="submit">${t('code.submit')}</button></div></form>
${resendable ? html`<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'resend')}<button type="submit" class="secondary">${t('code.resend')}</button></form>` : ''}
<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'back')}<button type="submit" class="secondary">${t('register.back')}</button></form>`,
  });
}
