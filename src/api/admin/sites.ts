import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { parseDuration } from '../../common/index.js';
import type { SiteContext } from '../../core/index.js';
import {
  addSite,
  assertSiteCode,
  deleteSite,
  listSites,
  purgeSite,
  replaceSite,
  showSite,
} from '../../sites/index.js';
import { Code, optional } from '../schemas.js';

const OneSite = { params: Type.Object({ code: Code }) };

/** This site and the sites it knows: add, list, show, delete, purge. */
export function siteRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/site', async () => ({ ...(await showSite(ctx.db, ctx.config.code)), dataDir: ctx.paths.root }));
    app.post(
      '/sites',
      {
        schema: {
          body: Type.Object(
            {
              code: Code,
              type: Type.String(),
              parent: Type.Optional(Code),
              url: Type.String({ maxLength: 2048 }),
              name: Type.Optional(Type.String({ maxLength: 200 })),
              joinDeadline: Type.Optional(Type.String({ maxLength: 16 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const joinDeadlineMs = optional(request.body.joinDeadline, (d) =>
          parseDuration(d, '--join-deadline'),
        );
        reply.code(201);
        return addSite(ctx, { ...request.body, joinDeadlineMs });
      },
    );
    app.get('/sites', async () => listSites(ctx.db));
    app.get('/sites/:code', { schema: OneSite }, async (request) =>
      showSite(ctx.db, assertSiteCode(request.params.code)),
    );
    app.delete(
      '/sites/:code',
      {
        schema: {
          ...OneSite,
          querystring: Type.Object({
            recursive: Type.Optional(Type.Boolean()),
            dryRun: Type.Optional(Type.Boolean()),
          }),
        },
      },
      async (request) => deleteSite(ctx, { code: request.params.code, ...request.query }),
    );
    app.post(
      '/sites/:code/replace',
      {
        schema: {
          ...OneSite,
          body: Type.Object(
            { joinDeadline: Type.Optional(Type.String({ maxLength: 16 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) =>
        replaceSite(ctx, {
          code: request.params.code,
          joinDeadlineMs: optional(request.body.joinDeadline, (d) => parseDuration(d, '--join-deadline')),
        }),
    );
    app.post(
      '/sites/:code/purge',
      { schema: { ...OneSite, querystring: Type.Object({ dryRun: Type.Optional(Type.Boolean()) }) } },
      async (request) =>
        purgeSite(ctx, { code: request.params.code, dryRun: request.query.dryRun, mustBeKnown: true }),
    );
  };
}
