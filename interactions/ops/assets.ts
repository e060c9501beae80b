/** Our own CSS (and later fonts/scripts): no third-party resources on any page. */
import Router from '@koa/router';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

const ASSETS: Record<string, { file: URL; type: string }> = {
  'rekey.css': { file: new URL('../assets/rekey.css', import.meta.url), type: 'text/css; charset=utf-8' },
};

export function assetRoutes(): Router {
  const router = new Router();
  const loaded = Object.fromEntries(
    Object.entries(ASSETS).map(([name, a]) => {
      const body = readFileSync(a.file);
      return [name, { body, type: a.type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` }];
    }),
  );
  router.get('/assets/:name', (ctx) => {
    const asset = loaded[ctx.params.name!];
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
