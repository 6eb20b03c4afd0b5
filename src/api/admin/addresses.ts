import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { parseDuration } from '../../common/index.js';
import type { SiteContext } from '../../core/index.js';
import { listAddresses, updateAddress } from '../../replication/index.js';
import { assertSiteCode } from '../../sites/index.js';
import { Code, optional } from '../schemas.js';

/** How this site sends to each child: list, change. */
export function addressRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/addresses', async () => listAddresses(ctx));
    app.put(
      '/addresses/:code',
      {
        schema: {
          params: Type.Object({ code: Code }),
          body: Type.Object(
            {
              rateLimitKbps: Type.Optional(
                Type.Union([Type.Null(), Type.Integer({ minimum: 1, maximum: 100_000_000 })]),
              ),
              schedule: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 8 })])),
              concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
              retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
              retryDelay: Type.Optional(Type.String({ maxLength: 16 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const { retryDelay, ...changes } = request.body;
        return updateAddress(ctx, assertSiteCode(request.params.code), {
          ...changes,
          retryDelayMs: optional(retryDelay, (d) => parseDuration(d, '--retry-delay')),
        });
      },
    );
  };
}
