/** The dev outbox: messages that would have been emailed or texted, newest first. */
import Router from '@koa/router';
import type { DevOutbox } from '../../adapters/delivery/dev-outbox.ts';
import { html } from '../views/html.ts';
import { formatDateTime, t } from '../../src/i18n/index.ts';
import { layout, type Branding } from '../views/layout.ts';

export function outboxRoutes(outbox: DevOutbox, branding: Branding): Router {
  const router = new Router();
  router.get('/dev/outbox.json', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await outbox.list(100);
  });
  router.get('/dev/outbox', async (ctx) => {
    const messages = await outbox.list(100);
    ctx.type = 'html';
    ctx.body = layout({
      title: t('outbox.title'),
      branding,
      wide: true,
      body: html`<p class="lead">${t('outbox.lead')}</p>
${messages.length === 0 ? html`<p>${t('outbox.empty')}</p>` : ''}
${messages.map(
  (m) => html`<article class="message"><h2>${m.subject ?? m.channel.toUpperCase()}</h2>
<p class="hint">${formatDateTime(m.at)} · ${t('outbox.to', { channel: m.channel })} <strong>${m.to}</strong></p>
<pre>${m.text}</pre></article>`,
)}`,
    });
  });
  return router;
}
