import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { assertComponent, readLog } from '../../logs/index.js';

/** A component's log, from an offset, for `logs --follow`. */
export function logRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/logs/:component',
      {
        schema: {
          params: Type.Object({ component: Type.String({ maxLength: 32 }) }),
          querystring: Type.Object({ offset: Type.Optional(Type.Integer({ minimum: 0 })) }),
        },
      },
      async (request) =>
        readLog(ctx.paths.logs, assertComponent(request.params.component), request.query.offset),
    );
  };
}
