import { html, raw } from '../html.ts';
import { layout, type Branding } from '../layout.ts';
import { t } from '../../../src/i18n/index.ts';

/** oidc-provider hands us its own hidden form (with its xsrf token); our buttons submit it. */
export function logoutPage(branding: Branding, providerForm: string): string {
  return layout({
    title: t('logout.title'),
    branding,
    body: html`${raw(providerForm)}
<p class="lead">${t('logout.lead', { product: branding.productName })}</p>
<div class="actions">
<button type="submit" form="op.logoutForm" name="logout" value="yes">${t('logout.yes')}</button>
<button type="submit" form="op.logoutForm" class="secondary">${t('logout.no')}</button>
</div>`,
  });
}

export function loggedOutPage(branding: Branding): string {
  return layout({
    title: t('logged_out.title'),
    branding,
    body: html`<p class="lead">${t('logged_out.lead', { product: branding.productName })}</p>`,
  });
}
