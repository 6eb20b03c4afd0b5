import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { verifyContent } from '../../replication/index.js';
import { Code } from '../schemas.js';

/** `content verify`: the content library and the DP's packages re-hashed, and repaired from the parent. */
export function verifyRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/content/verify',
      {
        schema: {
          body: Type.Object(
            { package: Type.Optional(Code), repair: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => verifyContent(ctx, request.body),
    );
  };
}
