import send from '@fastify/send';
import type { FastifyInstance } from 'fastify';
import { assertPackagePath } from '../content/index.js';
import { OutpostError, toErrorBody } from '../errors/index.js';
import { assertPackageId } from '../packages/index.js';
import type { SiteContext } from '../server/context.js';
import { installedVersion, versionDir } from './install.js';

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => t.trim() === etag || t.trim() === '*');
}

/**
 * `GET|HEAD /dp/<PACKAGE ID>/<path>`: the installed version of a file, with Range and a strong ETag
 * (its SHA-256). Conditions on the ETag are decided here; Range serving is @fastify/send's.
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
                  .select('sha256')
                  .where('package_id', '=', pkg)
                  .where('source_version', '=', version)
                  .where('path', '=', path)
                  .executeTakeFirst();
          if (version === null || !file)
            throw new OutpostError('OUTPOST_FILE_NOT_FOUND', `${pkg}/${path} is not installed on this DP`);
          const etag = `"${file.sha256}"`;
          const headers = request.raw.headers;
          if (headers['if-match'] && !etagMatches(headers['if-match'], etag)) {
            ctx.metrics.dpBytesServed.inc({ status: '412' });
            return reply.code(412).header('etag', etag).send();
          }
          if (etagMatches(headers['if-none-match'], etag)) {
            ctx.metrics.dpBytesServed.inc({ status: '304' });
            return reply.code(304).header('etag', etag).send();
          }
          // If-Range: a matching ETag keeps the Range, anything else turns it into a full response.
          if (headers['if-range'] !== undefined) {
            if (headers['if-range'] !== etag) delete headers.range;
            delete headers['if-range'];
          }
          delete headers['if-modified-since'];
          delete headers['if-unmodified-since'];
          const result = await send(request.raw, `/${path}`, {
            root: versionDir(ctx, pkg, version),
            etag: false,
            lastModified: false,
            dotfiles: 'allow',
            index: false,
            acceptRanges: true,
            cacheControl: false,
          });
          ctx.metrics.dpBytesServed.inc({ status: String(result.statusCode) });
          reply
            .code(result.statusCode)
            .headers(result.headers as Record<string, string>)
            .header('etag', etag);
          return reply.send(result.stream);
        } catch (err) {
          const { status, body } = toErrorBody(err);
          return reply.code(status).send(body);
        }
      },
    });
  };
}
