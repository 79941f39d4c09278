// GET /metrics: the Prometheus exposition of this instance. With METRICS_TOKEN set, only a scraper presenting it
// as a bearer token may read it; without, it is open, for deployments that keep the port off public networks.
import Router from '@koa/router';
import type { ServerMetrics } from '../metrics.ts';
import { requireBearerToken } from '../admin-auth.ts';

export function metricsRoutes(metrics: ServerMetrics, token: string | undefined): Router {
  const router = new Router();
  const guard = token ? [requireBearerToken({ token, realm: 'metrics', name: 'METRICS_TOKEN', what: '/metrics' })] : [];
  router.get('/metrics', ...guard, async (ctx) => {
    const { contentType, body } = await metrics.scrape();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = contentType;
    ctx.body = body;
  });
  return router;
}
