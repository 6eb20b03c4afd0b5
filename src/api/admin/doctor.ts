import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { runDoctor } from '../../doctor/index.js';
import { Code } from '../schemas.js';

/** `doctor`: the checks of this site (MP, DPs, links, keys, disk, clock, jobs) or of a site below it. */
export function doctorRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/doctor',
      {
        schema: {
          querystring: Type.Object(
            { site: Type.Optional(Code), full: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => runDoctor(ctx, request.query),
    );
  };
}
