import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { assertComponent } from '../../logs/index.js';
import { assertPackageId } from '../../packages/index.js';
import { listNotInstalled } from '../../replication/index.js';
import { assertSiteCode, summarizeSites } from '../../sites/index.js';
import { listMessages, listPackageStatus, SEVERITIES } from '../../status/index.js';
import { Code, optional } from '../schemas.js';

/** What the sites at and below this one report: package status per DP, status messages. */
export function statusRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/status/packages',
      {
        schema: {
          querystring: Type.Object({
            site: Type.Optional(Code),
            package: Type.Optional(Code),
            notInstalled: Type.Optional(Type.Boolean()),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        const f = { site: optional(q.site, assertSiteCode), package: optional(q.package, assertPackageId) };
        return q.notInstalled ? listNotInstalled(ctx, f) : listPackageStatus(ctx.db, f);
      },
    );
    app.get('/status/summary', async () => summarizeSites(ctx.db));
    app.get(
      '/status/messages',
      {
        schema: {
          querystring: Type.Object({
            site: Type.Optional(Code),
            component: Type.Optional(Type.String({ maxLength: 32 })),
            severity: Type.Optional(Type.Enum(SEVERITIES)),
            package: Type.Optional(Code),
            job: Type.Optional(Type.String({ maxLength: 64 })),
            since: Type.Optional(Type.Integer({ minimum: 0 })),
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        return listMessages(ctx.db, {
          ...q,
          site: optional(q.site, assertSiteCode),
          component: optional(q.component, assertComponent),
          package: optional(q.package, assertPackageId),
        });
      },
    );
  };
}
