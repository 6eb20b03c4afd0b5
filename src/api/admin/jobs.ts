import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { assertJobState, removeJobs } from '../../jobs/index.js';
import { assertPackageId } from '../../packages/index.js';
import { listJobsWithReasons } from '../../replication/index.js';
import { assertSiteCode } from '../../sites/index.js';
import { Code, optional } from '../schemas.js';

/** The jobs this site sends to its children: list, delete. */
export function jobRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/jobs',
      {
        schema: {
          querystring: Type.Object({
            site: Type.Optional(Code),
            state: Type.Optional(Type.String({ maxLength: 16 })),
            package: Type.Optional(Code),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        return listJobsWithReasons(ctx, {
          site: optional(q.site, assertSiteCode),
          state: optional(q.state, assertJobState),
          package: optional(q.package, assertPackageId),
        });
      },
    );
    app.post(
      '/jobs/delete',
      {
        schema: {
          body: Type.Object(
            {
              site: Code,
              job: Type.Optional(Type.String({ maxLength: 64 })),
              dryRun: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) =>
        removeJobs(ctx, {
          site: assertSiteCode(request.body.site),
          job: request.body.job,
          dryRun: request.body.dryRun,
        }),
    );
  };
}
