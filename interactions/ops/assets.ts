/** Our own CSS, theme, logo and the security key script: no third-party resources on any page. */
import Router from '@koa/router';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { BrandAsset, BrandKit } from '../views/branding.ts';

const STATIC: Record<string, { file: URL; type: string }> = {
  'rekey.css': { file: new URL('../assets/rekey.css', import.meta.url), type: 'text/css; charset=utf-8' },
  'admin.css': { file: new URL('../assets/admin.css', import.meta.url), type: 'text/css; charset=utf-8' },
  // The one script: security key pages (WebAuthn needs the browser's API).
  'webauthn.js': { file: new URL('../assets/webauthn.js', import.meta.url), type: 'text/javascript; charset=utf-8' },
};

export function assetRoutes(kit: Pick<BrandKit, 'theme' | 'logo'>): Router {
  const router = new Router();
  const named: Record<string, BrandAsset> = {
    ...Object.fromEntries(Object.entries(STATIC).map(([name, a]) => [name, { body: readFileSync(a.file), type: a.type }])),
    'theme.css': kit.theme,
    ...(kit.logo ? { logo: kit.logo } : {}),
  };
  const loaded = Object.fromEntries(
    Object.entries(named).map(([name, a]) => [name, { ...a, etag: `"${createHash('sha256').update(a.body).digest('base64url').slice(0, 16)}"` }]),
  );
  router.get('/assets/:name', (ctx) => {
    // Own names only: `__proto__`, `constructor` and friends are no assets.
    const name = ctx.params.name!;
    const asset = Object.hasOwn(loaded, name) ? loaded[name] : undefined;
    if (!asset) return;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('ETag', asset.etag);
    if (ctx.get('if-none-match') === asset.etag) {
      ctx.status = 304;
      return;
    }
    ctx.type = asset.type;
    ctx.body = asset.body;
  });
  return router;
}
