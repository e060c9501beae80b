/**
 * `GET /metrics`: Prometheus text format, for scrapers that send `Authorization: Bearer
 * <METRICS_TOKEN>`. Without a configured token (refused in production) it is open, and
 * start-up says so. With `METRICS=off` there is no route (404).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Metrics } from '../../src/metrics/metrics.ts';
import type { Logger } from '../../src/log.ts';
import { constantTimeEqual } from '../../src/domain/secrets.ts';

function bearer(ctx: Context): string | undefined {
  const m = /^Bearer +(\S+)\s*$/i.exec(ctx.get('Authorization'));
  return m?.[1];
}

export function metricsRoutes(metrics: Metrics | undefined, token: string | undefined, log: Logger): Router {
  const router = new Router();
  if (!metrics) return router;
  if (!token) log.warn({ event: 'metrics_open' }, 'METRICS=on without METRICS_TOKEN: /metrics is open to anyone');
  router.get('/metrics', async (ctx) => {
    if (token) {
      const given = bearer(ctx);
      if (!given || !constantTimeEqual(given, token)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        ctx.body = { error: 'unauthorized', message: 'send Authorization: Bearer <METRICS_TOKEN>' };
        return;
      }
    }
    ctx.body = await metrics.registry.metrics();
    ctx.set('Content-Type', metrics.registry.contentType);
  });
  return router;
}
