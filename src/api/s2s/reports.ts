import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { ReportsBody, S2S } from '../../s2s/index.js';
import { acceptReports } from '../../status/index.js';
import { peerCode } from './signatures.js';

/** Status reports from a child, to keep here and pass on up. */
export function reportRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(S2S.reports, { config: { caller: 'child' }, schema: { body: ReportsBody } }, async (request) =>
      acceptReports(ctx, peerCode(request), request.body.reports),
    );
  };
}
