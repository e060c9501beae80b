/**
 * Pages of the sign-in stages that set up recovery methods: the bootstrap proof of a first
 * registration, the method chooser, each method's input and proof forms.
 */
import { html, raw, type Html } from '../html.ts';
import { abortForm, fieldError, formErrors, layout, type Branding, type FormErrorsView, type FormField } from '../layout.ts';
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

/** A labelled input: described by `describedBy` (text around it), its hint (shown under it) and its error. */
function input(f: FormErrorsView, name: string, label: string, attrs: Html, opts: { hint?: string; describedBy?: string[] } = {}): Html {
  const hintId = opts.hint ? `${name}-hint` : undefined;
  return html`<label for="${name}">${label}</label>
<input id="${name}" name="${name}" ${attrs}${f.describe(name, ...(opts.describedBy ?? []), hintId)}${f.autofocus(name)}>
${opts.hint ? html`<p class="hint" id="${hintId}">${opts.hint}</p>` : ''}${fieldError(name, f.error(name))}`;
}

/** A numeric one-time code (email, text message, call, authenticator app), with an optional hint under it. */
const codeInput = (f: FormErrorsView, describedBy: string[] = [], hint?: string): Html =>
  input(f, 'code', t('code.label'), html`type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="12" required`, { describedBy, ...(hint ? { hint } : {}) });

/** "Label: masked", or the label alone when the masked form says nothing more (an authenticator app). */
const labelled = (label: string, masked: string): string => (masked === label ? label : `${label}: ${masked}`);

export interface BootstrapView extends Base {
  sentTo?: string;
  mode: 'email' | 'tap';
}

export function bootstrapPage(v: BootstrapView): string {
  const withCode = v.mode === 'email' && !!v.sentTo;
  const lead = v.mode === 'email' ? (v.sentTo ? t('bootstrap.lead_email', { to: v.sentTo }) : t('bootstrap.no_email')) : t('bootstrap.lead_tap');
  // With a code sent, the code is the main form; the pass is the way out.
  const f = formErrors(v.errors, [...(withCode ? [{ name: 'code' }] : []), { name: 'pass', skipFocus: withCode }]);
  return layout({
    title: t('bootstrap.title'),
    branding: v.branding,
    body: html`<p class="lead" id="bootstrap-lead">${lead}</p>
${f.summary}
${withCode
  ? html`<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'code')}
${codeInput(f, ['bootstrap-lead'])}
<div class="actions"><button type="submit">${t('code.submit')}</button></div></form>
<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'resend')}<button type="submit" class="secondary">${t('code.resend')}</button></form>
<h2>${t('bootstrap.use_tap')}</h2>`
  : ''}
<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'tap')}
${input(f, 'pass', t('bootstrap.tap'), html`type="text" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" maxlength="64" required`, withCode ? {} : { describedBy: ['bootstrap-lead'] })}
<div class="actions">${withCode ? html`<button type="submit" class="secondary">${t('bootstrap.tap_submit')}</button>` : html`<button type="submit">${t('code.submit')}</button>`}</div></form>
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
  // A preset choice: no autofocus (it would skip the lead), unless the choice is in error.
  const f = formErrors(v.errors, v.kinds.length ? [{ name: 'kind', id: `kind-${v.kinds[0]}`, skipFocus: true }] : []);
  return layout({
    title: t('register.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('register.lead', { need: v.need, have: v.have })}</p>
${f.summary}
${v.registered.length ? html`<p id="registered">${t('register.done_list')}</p><ul aria-labelledby="registered">${v.registered.map((r) => html`<li>${labelled(r.label, r.masked)}</li>`)}</ul>` : ''}
<form method="post" action="${v.action}">${hidden(v.csrf, 'choose')}
<fieldset${f.describeGroup('kind')}><legend>${t('register.choose')}</legend>
${v.kinds.map(
  (k, i) => html`<div class="choice"><input type="radio" name="kind" id="kind-${k}" value="${k}"${i === 0 ? ' checked' : ''}${f.autofocus(`kind-${k}`)}>
<label for="kind-${k}">${t(`method.${k}`)}<span class="hint"> – ${t(`method.${k}.hint`)}</span></label></div>`,
)}
</fieldset>${fieldError('kind', f.error('kind'))}
<div class="actions"><button type="submit">${t('register.next')}</button></div></form>
${v.canPostpone ? html`<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'postpone')}<button type="submit" class="secondary">${t('register.postpone')}</button></form>` : ''}`,
  });
}

export interface MethodInputView extends Base {
  kind: 'email' | 'mobile_phone' | 'office_phone';
  values: Record<string, string>;
}

export function methodInputPage(v: MethodInputView): string {
  const fields: FormField[] =
    v.kind === 'email'
      ? [{ name: 'email', skipFocus: !!v.values.email }]
      : [
          { name: 'phone', skipFocus: !!v.values.phone },
          ...(v.kind === 'office_phone' ? [{ name: 'extension', skipFocus: true }] : []),
          { name: 'channel', id: 'channel-sms', skipFocus: true },
        ];
  const f = formErrors(v.errors, fields);
  const channel = v.values.channel === 'sms' || v.values.channel === 'voice' ? v.values.channel : v.kind === 'office_phone' ? 'voice' : 'sms';
  const body =
    v.kind === 'email'
      ? input(f, 'email', t('register.email'), html`type="email" autocomplete="email" autocapitalize="none" spellcheck="false" maxlength="254" required value="${v.values.email ?? ''}"`)
      : html`${input(f, 'phone', t('register.phone'), html`type="tel" autocomplete="tel" maxlength="32" required value="${v.values.phone ?? ''}"`, { hint: t('register.phone_hint') })}
${v.kind === 'office_phone' ? input(f, 'extension', t('register.extension'), html`type="text" inputmode="numeric" autocomplete="tel-extension" pattern="[0-9]*" maxlength="8" value="${v.values.extension ?? ''}"`) : ''}
<fieldset${f.describeGroup('channel')}><legend>${t('register.channel')}</legend>
<div class="choice"><input type="radio" name="channel" id="channel-sms" value="sms"${channel === 'sms' ? ' checked' : ''}${f.autofocus('channel-sms')}><label for="channel-sms">${t('register.channel_sms')}</label></div>
<div class="choice"><input type="radio" name="channel" id="channel-voice" value="voice"${channel === 'voice' ? ' checked' : ''}><label for="channel-voice">${t('register.channel_voice')}</label></div>
</fieldset>${fieldError('channel', f.error('channel'))}`;
  return layout({
    title: t(`method.${v.kind}`),
    branding: v.branding,
    body: html`${f.summary}
<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'start')}
${body}
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

type ProofPageView = ProofView & { registering: boolean };

const questionNumbers = (v: ProofPageView): number[] =>
  Array.from({ length: v.registering ? (v.questionCount ?? 3) : (v.display.questions ?? []).length }, (_, i) => i + 1);

function questionsRegistration(v: ProofPageView, f: FormErrorsView): Html {
  const options = v.display.questions ?? [];
  return html`<p class="lead">${t('register.questions_lead', { count: v.questionCount ?? 3 })}</p>
${questionNumbers(v).map((n) => {
  const q = `question_${n}`;
  const selected = v.values?.[q];
  return html`<label for="${q}">${t('register.question_n', { n })}</label>
<select id="${q}" name="${q}" required${f.describe(q)}${f.autofocus(q)}>
${options.map((o, j) => html`<option value="${o.id}"${(selected ? selected === o.id : j === n - 1) ? ' selected' : ''}>${o.text}</option>`)}
</select>${fieldError(q, f.error(q))}
${input(f, `answer_${n}`, t('register.answer_n', { n }), html`type="text" autocomplete="off" spellcheck="false" maxlength="80" required`)}`;
})}`;
}

function questionsChallenge(v: ProofPageView, f: FormErrorsView): Html {
  return html`${(v.display.questions ?? []).map(
    (q, i) => html`${input(f, `answer_${i + 1}`, q.text, html`type="text" autocomplete="off" spellcheck="false" maxlength="80" required`)}`,
  )}`;
}

/** The QR code as an image with a text alternative; the key next to it is the same secret as text. */
function qrCode(svg: string): Html {
  return raw(svg.replace(/^\s*<svg\b/, `<svg role="img" aria-label="${html`${t('register.totp_qr_label')}`.value}" focusable="false"`));
}

/** The fields of a proof page in order, for the error summary and the one autofocus. */
function proofFields(v: ProofPageView): FormField[] {
  switch (v.kind) {
    case 'recovery_codes':
      // The codes must be read before the box is ticked: focus it only when it is in error.
      return v.registering ? [{ name: 'saved', skipFocus: true }] : [{ name: 'code' }];
    case 'security_questions':
      return questionNumbers(v).flatMap((n) => [...(v.registering ? [{ name: `question_${n}` }] : []), { name: `answer_${n}` }]);
    case 'security_key':
      // The browser's own dialog takes over: nothing to focus but the name, and only when in error.
      return v.registering ? [{ name: 'label', skipFocus: true }] : [];
    default:
      return [{ name: 'code' }];
  }
}

/**
 * A security key (WebAuthn): /assets/webauthn.js reads the options from the form, lets the
 * browser talk to the key, puts its answer in `credential` and submits. Without JavaScript the
 * button stays hidden and the page says so; "Back" offers the other methods.
 */
function securityKeyForm(v: ProofPageView, f: FormErrorsView, remember: Html): Html {
  const webauthn = v.display.webauthn;
  const lead = v.registering ? t('security_key.register_lead') : t('security_key.challenge_lead');
  return html`<form method="post" action="${v.action}" novalidate data-webauthn="${JSON.stringify(webauthn ?? {})}" data-webauthn-unsupported="${t('security_key.unsupported')}" data-webauthn-cancelled="${t('security_key.cancelled')}">${hidden(v.csrf, 'finish')}
<p class="lead" id="key-lead">${lead}</p>
<noscript><p class="alert" role="note">${t('security_key.needs_js')}</p></noscript>
<p class="hint" id="key-status" role="status" data-webauthn-status></p>
${v.registering ? input(f, 'label', t('security_key.label'), html`type="text" autocomplete="off" maxlength="64"`, { hint: t('security_key.label_hint') }) : ''}
<input type="hidden" name="credential" value="">
${remember}
<div class="actions"><button type="button" data-webauthn-start hidden>${v.registering ? t('security_key.register') : t('security_key.use')}</button></div></form>
<script src="/assets/webauthn.js" defer></script>`;
}

export function proofPage(v: ProofPageView): string {
  const f = formErrors(v.errors, proofFields(v));
  const remember = v.rememberDays ? html`<div class="choice"><input type="checkbox" id="remember" name="remember" value="yes"><label for="remember">${t('second_factor.remember', { days: v.rememberDays })}</label></div>` : html``;
  const back = html`<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'back')}<button type="submit" class="secondary">${t('register.back')}</button></form>`;
  if (v.kind === 'security_key') {
    return layout({ title: t('method.security_key'), branding: v.branding, body: html`${f.summary}
${securityKeyForm(v, f, remember)}
${back}` });
  }
  let body: Html;
  switch (v.kind) {
    case 'authenticator_app':
      body = v.display.qrSvg
        ? html`<p class="lead" id="totp-lead">${t('register.totp_lead')}</p><div class="qr">${qrCode(v.display.qrSvg)}</div>
<p id="totp-key">${t('register.totp_key')}: <code class="secret">${v.display.secretText ?? ''}</code></p>
${codeInput(f, ['totp-lead', 'totp-key'], t('totp.input_hint'))}`
        : codeInput(f, [], t('totp.input_hint'));
      break;
    case 'recovery_codes':
      body = v.registering
        ? html`<p class="lead">${t('register.codes_lead')}</p><ol class="codes">${(v.display.codes ?? []).map((c) => html`<li><code>${c}</code></li>`)}</ol>
<div class="choice"><input type="checkbox" id="saved" name="saved" value="yes" required${f.describe('saved')}${f.autofocus('saved')}><label for="saved">${t('register.codes_saved')}</label></div>${fieldError('saved', f.error('saved'))}`
        : input(f, 'code', t('recovery_codes.input'), html`type="text" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" maxlength="32" required`, { hint: t('recovery_codes.input_hint') });
      break;
    case 'security_questions':
      body = v.registering ? questionsRegistration(v, f) : questionsChallenge(v, f);
      break;
    default:
      body = html`<p class="lead" id="code-sent">${t('code.sent', { to: v.display.sentTo ?? '' })}</p>${codeInput(f, ['code-sent'])}`;
  }
  const resendable = v.kind === 'email' || v.kind === 'mobile_phone' || v.kind === 'office_phone';
  return layout({
    title: t(`method.${v.kind}`),
    branding: v.branding,
    body: html`${f.summary}
<form method="post" action="${v.action}" novalidate>${hidden(v.csrf, 'finish')}
${body}
${remember}
<div class="actions"><button type="submit">${t('code.submit')}</button></div></form>
${resendable ? html`<form method="post" action="${v.action}" class="links">${hidden(v.csrf, 'resend')}<button type="submit" class="secondary">${t('code.resend')}</button></form>` : ''}
${back}`,
  });
}
