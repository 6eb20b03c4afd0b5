import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { OutpostError } from '../../errors/index.js';
import {
  acceptAssignments,
  acceptBlock,
  acceptOffer,
  acceptPatch,
  giveChunks,
  knownManifests,
} from '../../replication/index.js';
import {
  AssignmentsBody,
  ChunksBody,
  encodeBlockList,
  HEADER,
  ManifestsBody,
  NDJSON,
  parseBlockList,
  parsePatchHeader,
  S2S,
} from '../../s2s/index.js';
import { peerCode } from './signatures.js';

/**
 * A package from the parent: its manifest, the blocks of chunks this site lacks (or deltas of them
 * against chunks it holds), its assignments;
 * and, for a child repairing its copy, the chunks it asks for.
 */
export function transferRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const fromParent = { caller: 'parent' } as const;
    // A block's body is streamed into the content store as it arrives, never held whole.
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    // An offer streams both ways (NDJSON): its manifest as it is checked and staged, and the chunks
    // this site lacks. A body of another type is refused before it is read.
    const streamedOffer = async (request: { headers: Record<string, unknown> }) => {
      if (String(request.headers['content-type']).split(';')[0].trim() !== NDJSON)
        throw new OutpostError('OUTPOST_BAD_INPUT', `an offer is sent as ${NDJSON}`);
    };
    app.post(S2S.offer, { config: fromParent, onRequest: streamedOffer }, async (request, reply) => {
      const answer = await acceptOffer(ctx, request.body as AsyncIterable<Uint8Array>);
      return reply.type(NDJSON).send(Readable.from(answer));
    });
    app.put(S2S.blocks, { config: fromParent }, async (request) => {
      const list = parseBlockList(String(request.headers[HEADER.chunks] ?? ''));
      return acceptBlock(ctx, peerCode(request), list, request.body as AsyncIterable<Uint8Array>);
    });
    app.put(S2S.patches, { config: fromParent }, async (request) => {
      const patch = parsePatchHeader(String(request.headers[HEADER.patch] ?? ''));
      return acceptPatch(ctx, peerCode(request), patch, request.body as AsyncIterable<Uint8Array>);
    });
    app.post(S2S.assignments, { config: fromParent, schema: { body: AssignmentsBody } }, async (request) =>
      acceptAssignments(ctx, request.body),
    );
    // The other way: a child repairing its copy pulls the chunks it found damaged or missing.
    app.post(
      S2S.chunks,
      { config: { caller: 'child' }, schema: { body: ChunksBody } },
      async (request, reply) => {
        const given = await giveChunks(ctx, peerCode(request), request.body);
        return reply
          .header(HEADER.chunks, encodeBlockList(given.map((g) => ({ sha: g.sha, size: g.data.length }))))
          .type('application/octet-stream')
          .send(Buffer.concat(given.map((g) => g.data)));
      },
    );
    // A child preloading content: the versions known here and above, for it to verify against.
    app.post(
      S2S.manifests,
      { config: { caller: 'child' }, schema: { body: ManifestsBody } },
      async (request) => ({
        packages: await knownManifests(ctx, request.body.ids),
      }),
    );
  };
}
