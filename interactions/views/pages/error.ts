import { html } from '../html.ts';
import { layout, type Branding } from '../layout.ts';
import { t, type MessageKey } from '../../../src/i18n/index.ts';

/**
 * Errors whose page has a title of its own, and whether "start again" is the way out: a busy
 * step, a throttle or an outage pass by themselves (the message says to wait or reload).
 */
const OWN_TITLE: Readonly<Record<string, { title: MessageKey; startAgain: boolean }>> = {
  busy: { title: 'error.title_busy', startAgain: false },
  too_many_requests: { title: 'error.title_too_many_requests', startAgain: false },
  store_unavailable: { title: 'error.title_store_unavailable', startAgain: false },
  not_found: { title: 'error.title_not_found', startAgain: true },
  session_expired: { title: 'error.title_session_expired', startAgain: true },
};

/** The page of an error; `id` is the error's id (RekeyError.id or the OAuth error code). */
export function errorPage(branding: Branding, message: string, id?: string): string {
  const own = id !== undefined ? OWN_TITLE[id] : undefined;
  return layout({
    title: t(own?.title ?? 'error.title'),
    branding,
    body: html`<p role="alert">${message}</p>${own?.startAgain === false ? '' : html`<p class="lead">${t('error.back')}</p>`}`,
  });
}
