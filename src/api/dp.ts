import send from '@fastify/send';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import type { SiteContext } from '../core/index.js';
import { assertDpKnown, type DpIdentity, servedFile } from '../dp/index.js';
import { assertDpName } from '../sites/index.js';

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => t.trim() === etag || t.trim() === '*');
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

const FILE_ROUTE = '/dp/:pkg/*';
const NAMED_FILE_ROUTE = '/dps/:name/:pkg/*';

/**
 * `GET|HEAD /dp/<PACKAGE ID>/<path>` (the site's default DP) and `/dps/<NAME>/<PACKAGE ID>/<path>`
 * (its named DP `CODE/NAME`): the version installed on that DP of a file (see `servedFile`), with
 * Range (one range), If-Range, If-Match, If-None-Match and a strong ETag (its SHA-256). The base
 * URL of each (`/dp`, `/dps/<NAME>`) says which DP it is, so another site preloading from it
 * (`content preload --from-dp`) knows it reached a DP.
 */
export function dpRoutes(
  ctx: Pick<SiteContext, 'config' | 'db' | 'log' | 'metrics' | 'store'>,
): FastifyPluginAsync {
  const kindOf = (request: FastifyRequest) => (request.headers.range === undefined ? 'whole' : 'range');
  // The DP each request was served from, once it is known to be one: a made-up name in the URL
  // must not become a series of its own.
  const servedBy = new WeakMap<FastifyRequest, string>();
  const serve = async (
    request: FastifyRequest,
    reply: FastifyReply,
    dp: string,
    pkg: string,
    path: string,
  ) => {
    const file = await servedFile(ctx, dp, pkg, path);
    servedBy.set(request, dp);
    const etag = `"${file.sha256}"`;
    const headers = request.headers;
    if (headers['if-match'] && !etagMatches(headers['if-match'], etag))
      return reply.code(412).header('etag', etag).send();
    if (etagMatches(headers['if-none-match'], etag)) return reply.code(304).header('etag', etag).send();
    // If-Range: only a matching ETag keeps the Range; anything else gets the whole file.
    const rangeHeader =
      headers['if-range'] === undefined || headers['if-range'] === etag ? headers.range : undefined;
    const range = rangeOf(rangeHeader, file.size);
    const type = send.mime.getType(file.path) ?? 'application/octet-stream';
    reply
      .header('accept-ranges', 'bytes')
      .header('etag', etag)
      .header('content-type', type.startsWith('text/') ? `${type}; charset=utf-8` : type);
    if (range === 'unsatisfiable')
      return reply.code(416).header('content-range', `bytes */${file.size}`).send();
    const length = file.size === 0 ? 0 : range.end - range.start + 1;
    reply.code(range.partial ? 206 : 200).header('content-length', String(length));
    if (range.partial) reply.header('content-range', `bytes ${range.start}-${range.end}/${file.size}`);
    if (request.method === 'HEAD' || length === 0) return reply.send();
    // The body goes straight to the socket: the DP's reads reuse their buffers once it has them.
    reply.hijack();
    const res = reply.raw;
    for (const [name, value] of Object.entries(reply.getHeaders()))
      if (value !== undefined) res.setHeader(name, value);
    res.writeHead(reply.statusCode);
    try {
      const bytes = ctx.metrics.dpBytes.labels({ dp, kind: kindOf(request) });
      await file.writeTo(res, range.start, range.end, (n) => bytes.inc(n));
      res.end();
    } catch (err) {
      // The status line is out: all that is left is to cut the response short.
      if (!res.destroyed) ctx.log('dp').error({ err, dp, package: pkg, path: file.path }, 'serving failed');
      res.destroy();
    }
  };
  return async (app) => {
    // Every answer to a file request counts, refusals and errors included; onResponse runs for
    // the hijacked (streamed) ones too, once the response is over.
    app.addHook('onResponse', async (request, reply) => {
      if (request.routeOptions.url !== FILE_ROUTE && request.routeOptions.url !== NAMED_FILE_ROUTE) return;
      ctx.metrics.dpRequests.inc({
        dp: servedBy.get(request) ?? '',
        status: String(reply.statusCode),
        kind: kindOf(request),
      });
    });
    const me = (): DpIdentity => ({ dp: ctx.config.code, site: ctx.config.code });
    app.get('/dp', async () => me());
    app.get('/dp/', async () => me());
    const named = async (request: FastifyRequest): Promise<DpIdentity> => {
      const { name } = request.params as { name: string };
      const dp = `${ctx.config.code}/${assertDpName(name)}`;
      await assertDpKnown(ctx, dp);
      return { dp, site: ctx.config.code };
    };
    app.get('/dps/:name', named);
    app.get('/dps/:name/', named);
    app.route({
      method: ['GET', 'HEAD'],
      url: FILE_ROUTE,
      handler: async (request, reply) => {
        const { pkg, '*': path } = request.params as { pkg: string; '*': string };
        return serve(request, reply, ctx.config.code, pkg, path);
      },
    });
    app.route({
      method: ['GET', 'HEAD'],
      url: NAMED_FILE_ROUTE,
      handler: async (request, reply) => {
        const { name, pkg, '*': path } = request.params as { name: string; pkg: string; '*': string };
        return serve(request, reply, `${ctx.config.code}/${assertDpName(name)}`, pkg, path);
      },
    });
  };
}
