import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  adminRoutes,
  connectionLimits,
  consoleRoutes,
  cutStalledBodies,
  dpRoutes,
  installErrorHandling,
  managementPointRoutes,
  opsRoutes,
  registerOpenApi,
  s2sRoutes,
} from '../api/index.js';
import type { SiteContext } from '../core/index.js';

/**
 * The site server's HTTP surface: admin API, site-to-site API, management point, DP content, metrics
 * and the web console.
 */
export async function buildApp(ctx: SiteContext, adminToken: string): Promise<FastifyInstance> {
  const log: FastifyBaseLogger = ctx.log('api');
  const app = Fastify({
    // Failed requests (5xx) are logged by the error handler; a line per request would drown them.
    loggerInstance: log,
    disableRequestLogging: true,
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    ...connectionLimits(ctx.settings),
    // A field a schema does not know is refused (400 naming it), not silently dropped: Fastify's
    // Ajv removes it by default, so a misspelt option would otherwise do nothing.
    ajv: { customOptions: { removeAdditional: false } },
  });
  installErrorHandling(app);
  cutStalledBodies(app, ctx.settings.bodyIdleTimeoutMs);
  await registerOpenApi(app);
  await app.register(adminRoutes(ctx, adminToken), { prefix: '/api/v1' });
  await app.register(s2sRoutes(ctx));
  await app.register(dpRoutes(ctx));
  await app.register(managementPointRoutes(ctx));
  await app.register(opsRoutes(ctx));
  await app.register(consoleRoutes());
  return app;
}
