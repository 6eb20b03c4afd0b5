import { Readable } from 'node:stream';
import send from '@fastify/send';
import type { FastifyInstance, FastifyReply } from 'fastify';
import parseRange from 'range-parser';
import { assertPackagePath, type ContentStore } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError, toErrorBody } from '../errors/index.js';
import { assertPackageId } from '../packages/index.js';
import { installedVersion } from './install.js';

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => t.trim() === etag || t.trim() === '*');
}

/** Yields bytes `start`..`end` (inclusive) of a file made of `chunks`, read from the store. */
async function* fileBytes(
  store: ContentStore,
  chunks: [string, number][],
  start: number,
  end: number,
): AsyncGenerator<Buffer> {
  let offset = 0;
  for (const [sha, size] of chunks) {
    const chunkEnd = offset + size - 1;
    if (chunkEnd >= start && offset <= end) {
      const data = await store.read(sha);
      yield data.subarray(Math.max(0, start - offset), Math.min(size, end - offset + 1));
    }
    offset += size;
    if (offset > end) return;
  }
}

/**
 * The byte range to serve: the whole file, one range (206), or unsatisfiable (416). A malformed
 * Range or several ranges are answered with the whole file, as RFC 9110 allows.
 */
function rangeOf(
  header: string | undefined,
  size: number,
): { start: number; end: number; partial: boolean } | 'unsatisfiable' {
  const whole = { start: 0, end: size - 1, partial: false };
  if (!header) return whole;
  const ranges = parseRange(size, header, { combine: true });
  if (ranges === -1) return 'unsatisfiable';
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return whole;
  return { start: ranges[0].start, end: ranges[0].end, partial: true };
}

function notModified(reply: FastifyReply, status: 304 | 412, etag: string, metrics: SiteContext['metrics']) {
  metrics.dpRequests.inc({ status: String(status) });
  return reply.code(status).header('etag', etag).send();
}

/**
 * `GET|HEAD /dp/<PACKAGE ID>/<path>`: the installed version of a file, served from the verified
 * chunks of the content library, with Range (one range), If-Range, If-Match, If-None-Match and a
 * strong ETag (its SHA-256). Nothing of a package is served before it is Installed.
 */
export function dpRoutes(ctx: SiteContext) {
  return async (app: FastifyInstance) => {
    app.route({
      method: ['GET', 'HEAD'],
      url: '/dp/:pkg/*',
      handler: async (request, reply) => {
        const { pkg, '*': rawPath } = request.params as { pkg: string; '*': string };
        try {
          assertPackageId(pkg);
          const path = assertPackagePath(rawPath);
          const version = await installedVersion(ctx, pkg);
          const file =
            version === null
              ? undefined
              : await ctx.db
                  .selectFrom('package_files')
                  .select(['sha256', 'size', 'chunks'])
                  .where('package_id', '=', pkg)
                  .where('source_version', '=', version)
                  .where('path', '=', path)
                  .executeTakeFirst();
          if (version === null || !file) {
            throw new OutpostError('OUTPOST_FILE_NOT_FOUND', `${pkg}/${path} is not installed on this DP`);
          }
          const etag = `"${file.sha256}"`;
          const headers = request.headers;
          if (headers['if-match'] && !etagMatches(headers['if-match'], etag))
            return notModified(reply, 412, etag, ctx.metrics);
          if (etagMatches(headers['if-none-match'], etag)) return notModified(reply, 304, etag, ctx.metrics);
          // If-Range: only a matching ETag keeps the Range; anything else gets the whole file.
          const rangeHeader =
            headers['if-range'] === undefined || headers['if-range'] === etag ? headers.range : undefined;
          const range = rangeOf(rangeHeader, file.size);
          const type = send.mime.getType(path) ?? 'application/octet-stream';
          reply
            .header('accept-ranges', 'bytes')
            .header('etag', etag)
            .header('content-type', type.startsWith('text/') ? `${type}; charset=utf-8` : type);
          if (range === 'unsatisfiable') {
            ctx.metrics.dpRequests.inc({ status: '416' });
            return reply.code(416).header('content-range', `bytes */${file.size}`).send();
          }
          const length = file.size === 0 ? 0 : range.end - range.start + 1;
          reply.code(range.partial ? 206 : 200).header('content-length', String(length));
          if (range.partial) reply.header('content-range', `bytes ${range.start}-${range.end}/${file.size}`);
          ctx.metrics.dpRequests.inc({ status: range.partial ? '206' : '200' });
          if (request.method === 'HEAD' || length === 0) return reply.send();
          const chunks = JSON.parse(file.chunks) as [string, number][];
          return reply.send(Readable.from(fileBytes(ctx.store, chunks, range.start, range.end)));
        } catch (err) {
          const { status, body } = toErrorBody(err);
          return reply.code(status).send(body);
        }
      },
    });
  };
}
