/** The page frame every rekey page shares: header with the product name, main card, footer. */
import { html, type Html } from './html.ts';
import { t } from '../../src/i18n/index.ts';

export interface Branding {
  productName: string;
  helpdeskUrl?: string;
}

export interface PageOptions {
  title: string;
  body: Html;
  branding: Branding;
  /** Wider card for tables (dev outbox, demo claims). */
  wide?: boolean;
}

export function layout({ title, body, branding, wide }: PageOptions): string {
  return `<!doctype html>\n${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} – ${branding.productName}</title>
<link rel="stylesheet" href="/assets/rekey.css">
</head>
<body>
<header class="top"><span class="brand">${branding.productName}</span></header>
<main class="${wide ? 'card wide' : 'card'}">
<h1>${title}</h1>
${body}
</main>
<footer class="foot">${branding.helpdeskUrl ? html`<a href="${branding.helpdeskUrl}">${t('helpdesk')}</a>` : ''}</footer>
</body>
</html>`.value}`;
}

/** An error message tied to its field for screen readers. */
export function fieldError(id: string, message: string | undefined): Html {
  return message ? html`<p class="error" id="${id}-error" role="alert">${message}</p>` : html``;
}

export function alert(message: string | undefined): Html {
  return message ? html`<div class="alert" role="alert">${message}</div>` : html``;
}

/** The form that abandons an interaction (cancel / deny), sending the user back to the client. */
export function abortForm(uid: string, csrf: string, label: string): Html {
  return html`<form method="post" action="/interaction/${uid}/abort" class="links">
<input type="hidden" name="csrf" value="${csrf}">
<button type="submit" class="secondary">${label}</button>
</form>`;
}
