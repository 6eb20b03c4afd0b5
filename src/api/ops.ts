import type { FastifyPluginAsync } from 'fastify';
import type { SiteContext } from '../core/index.js';
import { collectGauges } from '../replication/index.js';

/** `/healthz` for a probe (and the join's reach-back check), `/metrics` for Prometheus. */
export function opsRoutes(ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'metrics'>): FastifyPluginAsync {
  return async (app) => {
    app.get('/metrics', async (_request, reply) => {
      await collectGauges(ctx);
      reply.header('content-type', ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    });
    app.get('/healthz', async () => ({
      site: ctx.config.code,
      generation: ctx.config.generation,
      time: ctx.clock.now(),
    }));
  };
}
