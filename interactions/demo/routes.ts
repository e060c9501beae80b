/**
 * The demo relying party at `/` (development only): a real OIDC client (openid-client,
 * authorization code + PKCE) talking to this very rekey over HTTP, showing the ID token claims.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import * as oidc from 'openid-client';
import type { Services } from '../../src/services.ts';
import { randomId } from '../../src/domain/secrets.ts';
import { BadRequest } from '../../src/errors.ts';
import { html } from '../views/html.ts';
import { t } from '../../src/i18n/index.ts';
import { layout, type Branding } from '../views/layout.ts';
import { DEMO_CLIENT_ID } from './demo-client.ts';
import { selfClient } from '../http/self-client.ts';
import { cookieNames } from '../../src/cookie-names.ts';

interface DemoSession {
  claims: Record<string, unknown>;
  idToken: string;
}

const cookieOpts = { signed: true, httpOnly: true, sameSite: 'lax' as const, path: '/' };

export function demoRoutes(services: Services, branding: Branding, demoUsers: { login: string; password: string }[]): Router {
  const issuer = services.config.ISSUER;
  const { demoTx: txCookie, demoSession: sessionCookie } = cookieNames(issuer);
  const configuration = selfClient(issuer, DEMO_CLIENT_ID);
  const sessionKey = (id: string): string => `demo-session:{${id}}`;

  async function current(ctx: Context): Promise<DemoSession | undefined> {
    const id = ctx.cookies.get(sessionCookie, { signed: true });
    return id ? services.store.ephemeral.get<DemoSession>(sessionKey(id)) : undefined;
  }

  const router = new Router();

  router.get('/', async (ctx) => {
    const session = await current(ctx);
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    if (session) {
      ctx.body = layout({
        title: t('demo.signed_in.title'),
        branding,
        wide: true,
        body: html`<p class="lead">${t('demo.signed_in.lead', { product: branding.productName })}</p>
<table><tbody>${Object.entries(session.claims).map(([k, v]) => html`<tr><th scope="row">${k}</th><td><code>${JSON.stringify(v)}</code></td></tr>`)}</tbody></table>
<div class="actions"><a class="button" href="/demo/logout">${t('demo.sign_out')}</a><a class="button secondary" href="/demo/login">${t('demo.sign_in_again')}</a></div>`,
      });
      return;
    }
    ctx.body = layout({
      title: t('demo.title'),
      branding,
      body: html`<p class="lead">${t('demo.lead', { product: branding.productName })}</p>
<div class="actions"><a class="button" href="/demo/login">${t('demo.sign_in_with', { product: branding.productName })}</a></div>
${demoUsers.length ? html`<p class="hint">${t('demo.users')} ${demoUsers.map((u, i) => html`${i ? ', ' : ''}<code>${u.login}</code> / <code>${u.password}</code>`)}</p>` : ''}
${services.outbox ? html`<p class="links"><a href="/dev/outbox">${t('outbox.title')}</a> ${t('demo.outbox_hint')}</p>` : ''}`,
    });
  });

  router.get('/demo/login', async (ctx) => {
    const config = await configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    ctx.cookies.set(txCookie, JSON.stringify({ verifier, state }), { ...cookieOpts, maxAge: 30 * 60 * 1000 });
    ctx.redirect(
      oidc
        .buildAuthorizationUrl(config, {
          redirect_uri: `${issuer}/demo/callback`,
          scope: 'openid email profile groups',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
        })
        .toString(),
    );
  });

  router.get('/demo/callback', async (ctx) => {
    const raw = ctx.cookies.get(txCookie, { signed: true });
    if (!raw) throw new BadRequest(t('demo.expired'));
    const tx = JSON.parse(raw) as { verifier: string; state: string };
    const config = await configuration();
    // Built from ISSUER, never from the Host header.
    const currentUrl = new URL(ctx.originalUrl, `${issuer}/`);
    const tokens = await oidc.authorizationCodeGrant(config, currentUrl, { pkceCodeVerifier: tx.verifier, expectedState: tx.state });
    const id = randomId();
    await services.store.ephemeral.put(
      sessionKey(id),
      { claims: tokens.claims() ?? {}, idToken: tokens.id_token ?? '' } satisfies DemoSession,
      services.clock() + 8 * 3600 * 1000,
    );
    ctx.cookies.set(txCookie, null, cookieOpts);
    ctx.cookies.set(sessionCookie, id, cookieOpts);
    ctx.redirect('/');
  });

  router.get('/demo/logout', async (ctx) => {
    const session = await current(ctx);
    const id = ctx.cookies.get(sessionCookie, { signed: true });
    if (id) await services.store.ephemeral.delete(sessionKey(id));
    ctx.cookies.set(sessionCookie, null, cookieOpts);
    const config = await configuration();
    ctx.redirect(
      oidc
        .buildEndSessionUrl(config, {
          post_logout_redirect_uri: `${issuer}/`,
          ...(session?.idToken ? { id_token_hint: session.idToken } : { client_id: DEMO_CLIENT_ID }),
        })
        .toString(),
    );
  });

  return router;
}
