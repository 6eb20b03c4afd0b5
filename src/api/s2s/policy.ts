import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { acceptPolicy } from '../../mp/index.js';
import { PolicySnapshot, S2S } from '../../s2s/index.js';

/** The boundaries and deployments the parent gives this site's subtree. */
export function policyRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      S2S.policy,
      { config: { caller: 'parent' }, schema: { body: PolicySnapshot } },
      async (request) => acceptPolicy(ctx, request.body),
    );
  };
}
