import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { parseDuration } from '../../common/index.js';
import type { SiteContext } from '../../core/index.js';
import {
  addBoundary,
  assertDeploymentId,
  createDeployment,
  deleteBoundary,
  deleteDeployment,
  listBoundaries,
  listClients,
  listDeployments,
  showClient,
  summarizeDeployments,
} from '../../mp/index.js';
import { assertSiteCode } from '../../sites/index.js';
import { Code, optional } from '../schemas.js';

const Names = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 10_000 });

/** Boundaries, deployments, the clients and how the deployments went on them. */
export function mpRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/boundaries',
      { schema: { querystring: Type.Object({ site: Type.Optional(Code) }) } },
      async (request) => listBoundaries(ctx.db, { site: optional(request.query.site, assertSiteCode) }),
    );
    app.post(
      '/boundaries',
      {
        schema: {
          body: Type.Object(
            {
              site: Code,
              range: Type.String({ minLength: 1, maxLength: 100 }),
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => addBoundary(ctx, request.body),
    );
    app.delete(
      '/boundaries/:name',
      { schema: { params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }) } },
      async (request) => deleteBoundary(ctx, request.params.name),
    );
    app.get('/deployments', async () => listDeployments(ctx.db));
    app.post(
      '/deployments',
      {
        schema: {
          body: Type.Object(
            {
              package: Code,
              command: Type.String({ minLength: 1, maxLength: 4096 }),
              workdir: Type.Optional(Type.String({ maxLength: 1024 })),
              timeout: Type.Optional(Type.String({ maxLength: 16 })),
              successCodes: Type.Optional(Type.Array(Type.Integer(), { maxItems: 64 })),
              fallback: Type.Optional(Type.Boolean()),
              sites: Type.Optional(Names),
              boundaries: Type.Optional(Names),
              clients: Type.Optional(Names),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const { timeout, ...input } = request.body;
        return createDeployment(ctx, {
          ...input,
          timeoutMs: optional(timeout, (t) => parseDuration(t, '--timeout')),
        });
      },
    );
    app.delete('/deployments/:id', { schema: { params: Type.Object({ id: Code }) } }, async (request) =>
      deleteDeployment(ctx, request.params.id),
    );
    app.get(
      '/clients',
      { schema: { querystring: Type.Object({ site: Type.Optional(Code) }) } },
      async (request) => listClients(ctx.db, { site: optional(request.query.site, assertSiteCode) }),
    );
    app.get(
      '/clients/:id',
      { schema: { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }) } },
      async (request) => showClient(ctx.db, request.params.id),
    );
    app.get(
      '/status/deployments',
      {
        schema: {
          querystring: Type.Object({ site: Type.Optional(Code), deployment: Type.Optional(Code) }),
        },
      },
      async (request) =>
        summarizeDeployments(ctx.db, {
          site: optional(request.query.site, assertSiteCode),
          deployment: optional(request.query.deployment, assertDeploymentId),
        }),
    );
  };
}
