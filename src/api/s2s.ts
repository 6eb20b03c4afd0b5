import type { FastifyPluginAsync } from 'fastify';
import type { SiteContext } from '../core/index.js';
import { doctorRoutes } from './s2s/doctor.js';
import { joinRoutes } from './s2s/join.js';
import { policyRoutes } from './s2s/policy.js';
import { reportRoutes } from './s2s/reports.js';
import { signatures } from './s2s/signatures.js';
import { siteRoutes } from './s2s/sites.js';
import { transferRoutes } from './s2s/transfer.js';

/**
 * Site-to-site API (`/s2s/v1`). Every route but the join routes and the registration lookup is
 * signed by a parent or child of this site (see {@link signatures}).
 */
export function s2sRoutes(ctx: SiteContext): FastifyPluginAsync {
  return async (app) => {
    await app.register(signatures(ctx));
    for (const routes of [joinRoutes, siteRoutes, reportRoutes, transferRoutes, policyRoutes, doctorRoutes]) {
      await app.register(routes(ctx));
    }
  };
}
