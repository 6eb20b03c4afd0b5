import { timingSafeEqual } from 'node:crypto';
import '@fastify/swagger';
import type { FastifyPluginAsync } from 'fastify';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { addressRoutes } from './admin/addresses.js';
import { contentRoutes } from './admin/content.js';
import { doctorRoutes } from './admin/doctor.js';
import { jobRoutes } from './admin/jobs.js';
import { logRoutes } from './admin/logs.js';
import { mpRoutes } from './admin/mp.js';
import { packageRoutes } from './admin/packages.js';
import { rebuildRoutes } from './admin/rebuilds.js';
import { siteRoutes } from './admin/sites.js';
import { statusRoutes } from './admin/status.js';
import { verifyRoutes } from './admin/verify.js';

/**
 * The admin API (`/api/v1`), used by the CLI and the console; every route needs the bearer token,
 * its OpenAPI document (`/api/v1/openapi.json`) too: nothing needs it before login, and a route
 * open to anyone would be the one exception to read and keep right.
 */
export function adminRoutes(ctx: SiteContext, token: string): FastifyPluginAsync {
  const expected = Buffer.from(`Bearer ${token}`);
  return async (app) => {
    app.addHook('onRequest', async (request) => {
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new OutpostError('OUTPOST_UNAUTHORIZED', 'admin API needs a valid bearer token', {
          hint: 'pass --token, set OUTPOST_TOKEN, or use --data DIR on the site host',
        });
      }
    });
    for (const routes of [
      siteRoutes,
      jobRoutes,
      addressRoutes,
      packageRoutes,
      statusRoutes,
      logRoutes,
      verifyRoutes,
      contentRoutes,
      rebuildRoutes,
      mpRoutes,
      doctorRoutes,
    ]) {
      await app.register(routes(ctx));
    }
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  };
}
