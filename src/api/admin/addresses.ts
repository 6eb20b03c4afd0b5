import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { parseDuration } from '../../common/index.js';
import type { SiteContext } from '../../core/index.js';
import { OutpostError } from '../../errors/index.js';
import { listAddresses, updateAddress } from '../../replication/index.js';
import { assertSiteCode } from '../../sites/index.js';
import { Code, optional } from '../schemas.js';

const RateLimit = Type.Union([Type.Null(), Type.Integer({ minimum: 1, maximum: 100_000_000 })]);

/** The rate limit under either of its names (both KiB/s); two different values is an error. */
function oneRateLimit(kibps: number | null | undefined, alias: number | null | undefined) {
  if (kibps !== undefined && alias !== undefined && kibps !== alias)
    throw new OutpostError('OUTPOST_BAD_INPUT', 'rateLimitKiBps and rateLimitKbps differ: give one of them');
  return kibps !== undefined ? kibps : alias;
}

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
              rateLimitKiBps: Type.Optional(RateLimit),
              rateLimitKbps: Type.Optional(RateLimit),
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
        const { retryDelay, rateLimitKbps, rateLimitKiBps, ...changes } = request.body;
        return updateAddress(ctx, assertSiteCode(request.params.code), {
          ...changes,
          rateLimitKiBps: oneRateLimit(rateLimitKiBps, rateLimitKbps),
          retryDelayMs: optional(retryDelay, (d) => parseDuration(d, '--retry-delay')),
        });
      },
    );
  };
}
