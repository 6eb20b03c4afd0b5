import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { addDp, removeDp } from '../../dp/index.js';
import {
  assertPackageId,
  createPackage,
  importProgress,
  listPackages,
  showPackage,
  updatePackage,
} from '../../packages/index.js';
import {
  assignPackage,
  cloneDp,
  listDps,
  redistributePackage,
  unassignPackage,
} from '../../replication/index.js';
import { assertSiteCode } from '../../sites/index.js';
import { Code, optional } from '../schemas.js';

const OnePackage = Type.Object({ id: Code });
/** Chosen by the caller, so it can watch the import's progress while its request runs. */
const ImportId = Type.String({ pattern: '^[A-Za-z0-9-]{8,64}$' });
const DpBody = Type.Object(
  { dps: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10_000 }) },
  { additionalProperties: false },
);

/** Packages and where they go: create, update, list, show, assign to DPs, list DPs. */
export function packageRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/packages',
      {
        schema: {
          body: Type.Object(
            {
              name: Type.String({ maxLength: 200 }),
              source: Type.String({ minLength: 1, maxLength: 4096 }),
              importId: Type.Optional(ImportId),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        reply.code(201);
        return createPackage(ctx, request.body);
      },
    );
    app.get('/packages', async () => listPackages(ctx.db));
    app.get(
      '/packages/imports/:importId',
      { schema: { params: Type.Object({ importId: ImportId }) } },
      async (request) => importProgress(request.params.importId),
    );
    app.get('/packages/:id', { schema: { params: OnePackage } }, async (request) =>
      showPackage(ctx.db, assertPackageId(request.params.id)),
    );
    app.post(
      '/packages/:id/update',
      {
        schema: {
          params: OnePackage,
          body: Type.Object(
            {
              source: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
              importId: Type.Optional(ImportId),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => updatePackage(ctx, assertPackageId(request.params.id), request.body),
    );
    const assignments = {
      assign: assignPackage,
      redistribute: redistributePackage,
      unassign: unassignPackage,
    } as const;
    for (const [action, apply] of Object.entries(assignments)) {
      app.post(`/packages/:id/${action}`, { schema: { params: OnePackage, body: DpBody } }, async (request) =>
        apply(ctx, assertPackageId(request.params.id), request.body.dps),
      );
    }
    app.get(
      '/dps',
      { schema: { querystring: Type.Object({ site: Type.Optional(Code) }) } },
      async (request) => listDps(ctx, optional(request.query.site, assertSiteCode)),
    );
    app.post(
      '/dps',
      {
        schema: {
          body: Type.Object(
            {
              site: Code,
              name: Type.String({ maxLength: 64 }),
              url: Type.Optional(Type.String({ maxLength: 2048 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        reply.code(201);
        return addDp(ctx, request.body);
      },
    );
    app.post(
      '/dps/remove',
      {
        schema: {
          body: Type.Object(
            { dp: Type.String({ maxLength: 64 }), force: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => removeDp(ctx, request.body.dp, request.body.force ?? false),
    );
    app.post(
      '/dps/clone',
      {
        schema: {
          body: Type.Object(
            {
              from: Type.String({ maxLength: 64 }),
              to: Type.String({ maxLength: 64 }),
              dryRun: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => cloneDp(ctx, request.body),
    );
  };
}
