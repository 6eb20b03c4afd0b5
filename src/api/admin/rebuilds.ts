import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import {
  abortRebuild,
  checkRebuild,
  planOf,
  rebuildStatus,
  resumeRebuild,
  startRebuild,
} from '../../rebuild/index.js';
import { Code } from '../schemas.js';

const OneSite = { params: Type.Object({ code: Code }) };
const Folder = Type.String({ minLength: 1, maxLength: 4096 });
const Options = Type.Object(
  {
    path: Type.Optional(Type.String({ maxLength: 16 })),
    preloadFrom: Type.Optional(Folder),
    preloadFromDp: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    exportTo: Type.Optional(Folder),
    cloneFrom: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    joinDeadline: Type.Optional(Type.String({ maxLength: 16 })),
  },
  { additionalProperties: false },
);

/** The rebuild runbook of a child site: plan (dry run), start, status, resume, check, abort. */
export function rebuildRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/rebuilds/:code/plan', { schema: { ...OneSite, body: Options } }, async (request) =>
      planOf(ctx, request.params.code, request.body),
    );
    app.post('/rebuilds/:code', { schema: { ...OneSite, body: Options } }, async (request, reply) => {
      reply.code(201);
      return startRebuild(ctx, request.params.code, request.body);
    });
    app.get('/rebuilds/:code', { schema: OneSite }, async (request) =>
      rebuildStatus(ctx, request.params.code),
    );
    app.post(
      '/rebuilds/:code/resume',
      {
        schema: {
          ...OneSite,
          body: Type.Object(
            { done: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => resumeRebuild(ctx, request.params.code, request.body.done),
    );
    app.post(
      '/rebuilds/:code/check',
      {
        schema: {
          ...OneSite,
          body: Type.Object({ redistribute: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        },
      },
      async (request) => checkRebuild(ctx, request.params.code, request.body.redistribute),
    );
    app.post('/rebuilds/:code/abort', { schema: OneSite }, async (request) =>
      abortRebuild(ctx, request.params.code),
    );
  };
}
