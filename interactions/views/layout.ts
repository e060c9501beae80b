/** The page frame every rekey page shares: header with the product name, main card, footer. */
import { html, raw, type Html } from './html.ts';
import { currentLocale, t } from '../../src/i18n/index.ts';

export interface Branding {
  productName: string;
  helpdeskUrl?: string;
  /** Logo next to the product name (LOGO_FILE is served as /assets/logo). */
  logoUrl?: string;
  footerLinks?: readonly { label: string; url: string }[];
  /** Changes when the theme or logo changes, so browsers fetch them again at once. */
  assetVersion?: string;
}

export interface PageOptions {
  title: string;
  body: Html;
  branding: Branding;
  /** Wider card for tables (dev outbox, demo claims). */
  wide?: boolean;
  /** More of rekey's own stylesheets (e.g. the admin dashboard's). */
  stylesheets?: readonly string[];
}

/** The one markup `alert` and `formErrors` give a page that answers a submission with errors. */
const ERROR_SUMMARY = '<div class="alert" role="alert">';

export function layout({ title, body, branding, wide, stylesheets = [] }: PageOptions): string {
  const v = branding.assetVersion ? `?v=${branding.assetVersion}` : '';
  // The title is what a screen reader announces first and what the tab shows: a page that
  // comes back with errors says so there too (WCAG 3.3.1).
  const pageTitle = body.value.includes(ERROR_SUMMARY) ? t('error.title_prefix', { title }) : title;
  const links = [
    ...(branding.helpdeskUrl ? [{ label: t('helpdesk'), url: branding.helpdeskUrl }] : []),
    ...(branding.footerLinks ?? []),
  ];
  return `<!doctype html>\n${html`<html lang="${currentLocale()}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${pageTitle} – ${branding.productName}</title>
<link rel="stylesheet" href="/assets/rekey.css${v}">
<link rel="stylesheet" href="/assets/theme.css${v}">
${stylesheets.map((href) => html`<link rel="stylesheet" href="${href}${v}">
`)}</head>
<body>
<header class="top"><span class="brand">${branding.logoUrl ? html`<img class="logo" src="${branding.logoUrl}" alt="">` : ''}${branding.productName}</span></header>
<main class="${wide ? 'card wide' : 'card'}">
<h1>${title}</h1>
${body}
</main>
${links.length ? html`<footer class="foot"><ul>${links.map((l) => html`<li><a href="${l.url}">${l.label}</a></li>`)}</ul></footer>` : html`<footer class="foot"></footer>`}
</body>
</html>`.value}`;
}

/**
 * An error message under its field, tied to it by the field's `aria-describedby="<id>-error"`.
 * Not a live region: the one summary alert at the top of the page (`formErrors`) announces it.
 */
export function fieldError(id: string, message: string | undefined): Html {
  return message ? html`<p class="error" id="${id}-error">${message}</p>` : html``;
}

/** A message for the whole page or form, announced. Pages with fields use `formErrors(...).summary`. */
export function alert(message: string | undefined): Html {
  return message ? html`${raw(ERROR_SUMMARY)}${message}</div>` : html``;
}

/** A form's errors: one message for the whole form, and one per field name. */
export interface FormErrorsLike {
  form?: string | undefined;
  fields?: Readonly<Record<string, string | undefined>> | undefined;
}

/** A field of a form, listed in page order. */
export interface FormField {
  /** Its name in `errors.fields`; its error paragraph is `<name>-error`. */
  name: string;
  /** The element the summary links to and focus goes to (default: `name`); for a radio group, its first radio. */
  id?: string;
  /**
   * Focus goes here only when it has an error: it holds a value already (prefilled, a preset
   * choice), or it is a checkbox that comes after content the user has to read first.
   */
  skipFocus?: boolean;
}

export interface FormErrorsView {
  /** The one `role="alert"` of the page: the form's message, then each field error as a link to its field. */
  summary: Html;
  /** The field's error message, if any. */
  error(name: string): string | undefined;
  /** ` autofocus` on the one element that gets it: the first field with an error, else the first one to fill in. */
  autofocus(id: string): Html;
  /** `aria-describedby` (the given hint ids, then the field's error) and `aria-invalid` of a field. */
  describe(name: string, ...hintIds: (string | undefined | false)[]): Html;
  /** `aria-describedby` of a radio group's fieldset: its error, if any (a fieldset takes no `aria-invalid`). */
  describeGroup(name: string): Html;
}

/**
 * Errors and focus of a page's forms without script: one summary alert at the top listing the
 * errors as links to their fields, each field tied to its own error, and `autofocus` on
 * exactly one element. Field errors for a field not on the page still show, as plain text.
 */
export function formErrors(errors: FormErrorsLike | undefined, fields: readonly FormField[]): FormErrorsView {
  const byName = errors?.fields ?? {};
  const error = (name: string): string | undefined => (Object.hasOwn(byName, name) ? byName[name] || undefined : undefined);
  const idOf = (f: FormField): string => f.id ?? f.name;
  const focus = fields.find((f) => error(f.name)) ?? fields.find((f) => !f.skipFocus);
  const focusId = focus ? idOf(focus) : undefined;
  const shown = new Set(fields.map((f) => f.name));
  const items = [
    ...fields.filter((f) => error(f.name)).map((f) => html`<li><a href="#${idOf(f)}">${error(f.name)}</a></li>`),
    ...Object.entries(byName)
      .filter(([name, message]) => message && !shown.has(name))
      .map(([, message]) => html`<li>${message}</li>`),
  ];
  const summary = items.length
    ? html`${raw(ERROR_SUMMARY)}<p class="alert-title">${errors?.form ?? t('form.error_summary')}</p>
<ul class="error-list">${items}</ul></div>`
    : alert(errors?.form);
  return {
    summary,
    error,
    autofocus: (id) => (id === focusId ? html` autofocus` : html``),
    describe(name, ...hintIds) {
      const err = error(name);
      const ids = [...hintIds.filter((h): h is string => !!h), ...(err ? [`${name}-error`] : [])];
      return html`${ids.length ? html` aria-describedby="${ids.join(' ')}"` : ''}${err ? html` aria-invalid="true"` : ''}`;
    },
    describeGroup: (name) => (error(name) ? html` aria-describedby="${name}-error"` : html``),
  };
}

/** The form that abandons an interaction (cancel / deny), sending the user back to the client. */
export function abortForm(uid: string, csrf: string, label: string): Html {
  return html`<form method="post" action="/interaction/${uid}/abort" class="links">
<input type="hidden" name="csrf" value="${csrf}">
<button type="submit" class="secondary">${label}</button>
</form>`;
}
