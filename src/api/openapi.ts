import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';

/** Where the admin API lives; the document describes it and nothing else. */
export const ADMIN_PREFIX = '/api/v1';

/**
 * Collects the OpenAPI 3 document of the admin API from its routes' TypeBox schemas, as they are
 * registered: it must be registered before them. The site-to-site, management point, DP and ops
 * routes are left out; they have their own callers and are not the console's to use. Each admin
 * route is tagged by its first path segment (`sites`, `packages`, `status`, …).
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Outpost admin API',
        version: '1',
        description: 'The admin API of an Outpost site server, used by the CLI and the web console.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the site admin token' } },
      },
      security: [{ bearer: [] }],
    },
    transform: ({ schema, url }) => {
      if (!url.startsWith(`${ADMIN_PREFIX}/`)) return { schema: { ...schema, hide: true }, url };
      const tag = url.slice(ADMIN_PREFIX.length + 1).split('/')[0];
      return { schema: { ...schema, tags: [tag] }, url };
    },
  });
}
