import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { exportPackages, libraryProgress, preloadContent } from '../../replication/index.js';

/** Chosen by the caller, so it can watch the work's progress while its request runs. */
const ProgressId = Type.String({ pattern: '^[A-Za-z0-9-]{8,64}$' });
const Ids = Type.Array(Type.String({ maxLength: 16 }), { maxItems: 10_000 });

/** The content library as a whole: export package files, preload from a folder or a DP, watch either. */
export function contentRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/content/export',
      {
        schema: {
          body: Type.Object(
            {
              packages: Type.Optional(Ids),
              dp: Type.Optional(Type.String({ maxLength: 64 })),
              out: Type.String({ minLength: 1, maxLength: 4096 }),
              progressId: Type.Optional(ProgressId),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => exportPackages(ctx, request.body),
    );
    app.post(
      '/content/preload',
      {
        schema: {
          body: Type.Object(
            {
              dir: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
              fromDp: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
              ids: Type.Optional(Ids),
              progressId: Type.Optional(ProgressId),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => preloadContent(ctx, request.body),
    );
    app.get(
      '/content/progress/:progressId',
      { schema: { params: Type.Object({ progressId: ProgressId }) } },
      async (request) => libraryProgress(request.params.progressId),
    );
  };
}
