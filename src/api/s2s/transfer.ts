import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { acceptAssignments, acceptBlock, acceptOffer } from '../../replication/index.js';
import { AssignmentsBody, HEADER, OfferBody, parseBlockList, S2S } from '../../s2s/index.js';

/** A package from the parent: its manifest, the blocks of chunks this site lacks, its assignments. */
export function transferRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const fromParent = { caller: 'parent' } as const;
    // A block's body is streamed into the content store as it arrives, never held whole.
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    app.post(S2S.offer, { config: fromParent, schema: { body: OfferBody } }, async (request) =>
      acceptOffer(ctx, request.body),
    );
    app.put(S2S.blocks, { config: fromParent }, async (request) => {
      const list = parseBlockList(String(request.headers[HEADER.chunks] ?? ''));
      return acceptBlock(ctx, list, request.body as AsyncIterable<Uint8Array>);
    });
    app.post(S2S.assignments, { config: fromParent, schema: { body: AssignmentsBody } }, async (request) =>
      acceptAssignments(ctx, request.body),
    );
  };
}
