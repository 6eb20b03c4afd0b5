import Fastify, { type FastifyInstance } from 'fastify';
import { adminRoutes, installErrorHandling, s2sRoutes } from '../api/index.js';
import type { SiteContext } from '../core/index.js';
import { dpRoutes } from '../dp/index.js';

/** The site server's HTTP surface: admin API, site-to-site API, DP content and metrics. */
export async function buildApp(ctx: SiteContext, adminToken: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, forceCloseConnections: true });
  installErrorHandling(app);
  await app.register(adminRoutes(ctx, adminToken), { prefix: '/api/v1' });
  await app.register(s2sRoutes(ctx));
  await app.register(dpRoutes(ctx));
  app.get('/metrics', async (_request, reply) => {
    const jobs = await ctx.db
      .selectFrom('jobs')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    ctx.metrics.jobs.reset();
    for (const j of jobs) ctx.metrics.jobs.set({ state: j.state }, Number(j.n));
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
  app.get('/healthz', async () => ({
    site: ctx.config.code,
    generation: ctx.config.generation,
    time: ctx.clock.now(),
  }));
  return app;
}
