/** Liveness (the process answers) and readiness (the store answers) for orchestrators. */
import Router from '@koa/router';
import type { Store } from '../../src/store/types.ts';

export function healthRoutes(store: Store): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await store.ping();
      ctx.body = { status: 'ready', store: store.backend };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', store: store.backend, message: 'the store does not answer' };
    }
  });
  return router;
}
