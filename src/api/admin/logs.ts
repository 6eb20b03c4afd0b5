import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { assertComponent, readLog } from '../../logs/index.js';

/** A component's log (its rotated files included), from a cursor, for `logs --follow`. */
export function logRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/logs/:component',
      {
        schema: {
          params: Type.Object({ component: Type.String({ maxLength: 32 }) }),
          querystring: Type.Object({
            offset: Type.Optional(Type.Integer({ minimum: 0 })),
            /** The inode of the file `offset` is in, as the last read answered. */
            file: Type.Optional(Type.Integer({ minimum: 0 })),
          }),
        },
      },
      async (request) => {
        const { offset, file } = request.query;
        return readLog(
          ctx.paths.logs,
          assertComponent(request.params.component),
          offset === undefined ? undefined : { offset, file },
        );
      },
    );
  };
}
