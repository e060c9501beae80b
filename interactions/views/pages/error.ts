import { html } from '../html.ts';
import { layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';

export function errorPage(branding: Branding, message: string): string {
  return layout({
    title: t('error.title'),
    branding,
    body: html`<p role="alert">${message}</p><p class="lead">${t('error.back')}</p>`,
  });
}
