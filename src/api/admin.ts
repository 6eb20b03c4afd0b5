import { timingSafeEqual } from 'node:crypto';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Selectable } from 'kysely';
import { parseDuration } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import type { AddressesTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { assertJobState, deleteJobs, listJobs } from '../jobs/index.js';
import { assertComponent, readLog } from '../logs/index.js';
import {
  assertPackageId,
  createPackage,
  listPackages,
  showPackage,
  updatePackage,
} from '../packages/index.js';
import {
  assignPackage,
  listDps,
  parseSchedule,
  redistributePackage,
  unassignPackage,
} from '../replication/index.js';
import { addSite, assertSiteCode, deleteSite, listSites, purgeSite, showSite } from '../sites/index.js';
import { listMessages, listPackageStatus, postMessage } from '../status/index.js';

const Code = Type.String({ minLength: 1, maxLength: 16 });

/** The admin API (`/api/v1`), used by the CLI and the console; every route needs the bearer token. */
export function adminRoutes(ctx: SiteContext, token: string) {
  const expected = Buffer.from(`Bearer ${token}`);
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', async (request) => {
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new OutpostError('OUTPOST_UNAUTHORIZED', 'admin API needs a valid bearer token', {
          hint: 'pass --token, set OUTPOST_TOKEN, or use --data DIR on the site host',
        });
      }
    });

    app.get('/site', async () => ({ ...(await showSite(ctx.db, ctx.config.code)), dataDir: ctx.paths.root }));

    app.post(
      '/sites',
      {
        schema: {
          body: Type.Object(
            {
              code: Code,
              type: Type.String(),
              parent: Type.Optional(Code),
              url: Type.String({ maxLength: 2048 }),
              name: Type.Optional(Type.String({ maxLength: 200 })),
              joinDeadline: Type.Optional(Type.String({ maxLength: 16 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const b = request.body;
        const joinDeadlineMs =
          b.joinDeadline === undefined ? undefined : parseDuration(b.joinDeadline, '--join-deadline');
        reply.code(201);
        return addSite(ctx, { ...b, joinDeadlineMs });
      },
    );
    app.get('/sites', async () => listSites(ctx.db));
    app.delete(
      '/sites/:code',
      {
        schema: {
          params: Type.Object({ code: Code }),
          querystring: Type.Object({
            recursive: Type.Optional(Type.Boolean()),
            dryRun: Type.Optional(Type.Boolean()),
          }),
        },
      },
      async (request) => deleteSite(ctx, { code: request.params.code, ...request.query }),
    );
    app.post('/sites/:code/purge', { schema: { params: Type.Object({ code: Code }) } }, async (request) =>
      purgeSite(ctx, { code: request.params.code }),
    );
    app.post(
      '/jobs/delete',
      {
        schema: {
          body: Type.Object(
            { site: Code, job: Type.Optional(Type.String({ maxLength: 64 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const site = assertSiteCode(request.body.site);
        const removed = await deleteJobs(ctx.db, { site, job: request.body.job });
        await ctx.transfers.abortJobs(removed, 'deleted by job delete');
        if (removed.length) {
          await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
            severity: 'warning',
            component: 'scheduler',
            text: `${removed.length} jobs to ${site} deleted by an administrator`,
            subject: site,
          });
        }
        return { site, removed };
      },
    );
    app.get('/sites/:code', { schema: { params: Type.Object({ code: Code }) } }, async (request) =>
      showSite(ctx.db, assertSiteCode(request.params.code)),
    );

    app.get(
      '/jobs',
      {
        schema: {
          querystring: Type.Object({
            site: Type.Optional(Code),
            state: Type.Optional(Type.String({ maxLength: 16 })),
            package: Type.Optional(Code),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        return listJobs(ctx.db, {
          site: q.site === undefined ? undefined : assertSiteCode(q.site),
          state: q.state === undefined ? undefined : assertJobState(q.state),
          package: q.package === undefined ? undefined : assertPackageId(q.package),
        });
      },
    );

    app.get('/addresses', async () => {
      const rows = await ctx.db.selectFrom('addresses').selectAll().orderBy('site_code').execute();
      return rows.map(addressView);
    });
    app.put(
      '/addresses/:code',
      {
        schema: {
          params: Type.Object({ code: Code }),
          body: Type.Object(
            {
              rateLimitKbps: Type.Optional(
                Type.Union([Type.Null(), Type.Integer({ minimum: 1, maximum: 100_000_000 })]),
              ),
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
        const code = assertSiteCode(request.params.code);
        const b = request.body;
        if (typeof b.schedule === 'string') parseSchedule(b.schedule);
        const retryDelayMs =
          b.retryDelay === undefined ? undefined : parseDuration(b.retryDelay, '--retry-delay');
        const existing = await ctx.db
          .selectFrom('addresses')
          .selectAll()
          .where('site_code', '=', code)
          .executeTakeFirst();
        if (!existing)
          throw new OutpostError(
            'OUTPOST_SITE_NOT_FOUND',
            `no address to ${code}: it is not a child of ${ctx.config.code}`,
          );
        const changes = {
          ...(b.rateLimitKbps !== undefined ? { rate_limit_kbps: b.rateLimitKbps } : {}),
          ...(b.schedule !== undefined ? { schedule: b.schedule } : {}),
          ...(b.concurrency !== undefined ? { concurrency: b.concurrency } : {}),
          ...(b.retries !== undefined ? { retries: b.retries } : {}),
          ...(retryDelayMs !== undefined ? { retry_delay_ms: retryDelayMs } : {}),
          updated_at: ctx.clock.now(),
        };
        await ctx.db.updateTable('addresses').set(changes).where('site_code', '=', code).execute();
        ctx.wake.notify('sender');
        return addressView({ ...existing, ...changes });
      },
    );

    app.post(
      '/packages',
      {
        schema: {
          body: Type.Object(
            { name: Type.String({ maxLength: 200 }), source: Type.String({ minLength: 1, maxLength: 4096 }) },
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
    app.get('/packages/:id', { schema: { params: Type.Object({ id: Code }) } }, async (request) =>
      showPackage(ctx.db, assertPackageId(request.params.id)),
    );
    app.post(
      '/packages/:id/update',
      {
        schema: {
          params: Type.Object({ id: Code }),
          body: Type.Object(
            { source: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => updatePackage(ctx, assertPackageId(request.params.id), request.body),
    );
    const DpBody = Type.Object(
      { dps: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10_000 }) },
      { additionalProperties: false },
    );
    app.post(
      '/packages/:id/assign',
      { schema: { params: Type.Object({ id: Code }), body: DpBody } },
      async (request) => assignPackage(ctx, assertPackageId(request.params.id), request.body.dps),
    );
    app.post(
      '/packages/:id/redistribute',
      { schema: { params: Type.Object({ id: Code }), body: DpBody } },
      async (request) => redistributePackage(ctx, assertPackageId(request.params.id), request.body.dps),
    );
    app.post(
      '/packages/:id/unassign',
      { schema: { params: Type.Object({ id: Code }), body: DpBody } },
      async (request) => unassignPackage(ctx, assertPackageId(request.params.id), request.body.dps),
    );

    app.get(
      '/dps',
      { schema: { querystring: Type.Object({ site: Type.Optional(Code) }) } },
      async (request) =>
        listDps(ctx, request.query.site === undefined ? undefined : assertSiteCode(request.query.site)),
    );

    app.get(
      '/status/packages',
      {
        schema: {
          querystring: Type.Object({
            site: Type.Optional(Code),
            package: Type.Optional(Code),
            notInstalled: Type.Optional(Type.Boolean()),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        return listPackageStatus(ctx.db, {
          site: q.site === undefined ? undefined : assertSiteCode(q.site),
          package: q.package === undefined ? undefined : assertPackageId(q.package),
          notInstalled: q.notInstalled,
        });
      },
    );
    app.get(
      '/status/messages',
      {
        schema: {
          querystring: Type.Object({
            site: Type.Optional(Code),
            component: Type.Optional(Type.String({ maxLength: 32 })),
            package: Type.Optional(Code),
            job: Type.Optional(Type.String({ maxLength: 64 })),
            since: Type.Optional(Type.Integer({ minimum: 0 })),
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          }),
        },
      },
      async (request) => {
        const q = request.query;
        return listMessages(ctx.db, {
          ...q,
          site: q.site === undefined ? undefined : assertSiteCode(q.site),
          component: q.component === undefined ? undefined : assertComponent(q.component),
          package: q.package === undefined ? undefined : assertPackageId(q.package),
        });
      },
    );

    app.get(
      '/logs/:component',
      {
        schema: {
          params: Type.Object({ component: Type.String({ maxLength: 32 }) }),
          querystring: Type.Object({ offset: Type.Optional(Type.Integer({ minimum: 0 })) }),
        },
      },
      async (request) =>
        readLog(ctx.paths.logs, assertComponent(request.params.component), request.query.offset),
    );
  };
}

function addressView(a: Selectable<AddressesTable>) {
  return {
    site: a.site_code,
    url: a.url,
    rateLimitKbps: a.rate_limit_kbps,
    schedule: a.schedule,
    concurrency: a.concurrency,
    retries: a.retries,
    retryDelayMs: a.retry_delay_ms,
  };
}
