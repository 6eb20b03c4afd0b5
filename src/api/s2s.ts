import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Value } from 'typebox/value';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { acceptAssignments, acceptBlock, acceptOffer, parseBlockList } from '../replication/index.js';
import { type KnownPeer, NonceCache, sha256Hex, verifyRequest } from '../s2s/index.js';
import {
  acceptEarlyPhase,
  acceptHeartbeat,
  acceptJoin,
  acceptLatePhase,
  assertSiteCode,
  checkJoin,
  findPeer,
  isCodeFree,
  isSiteCode,
  probeJoiningSite,
  purgeSite,
} from '../sites/index.js';
import { applyReports, postMessage, type Report } from '../status/index.js';

const Str = (maxLength: number) => Type.String({ maxLength });
const Manifest = Type.Object({
  id: Str(16),
  name: Str(200),
  sourceVersion: Type.Integer({ minimum: 1 }),
  origin: Str(8),
  files: Type.Array(
    Type.Object({
      path: Str(1024),
      size: Type.Integer({ minimum: 0 }),
      sha256: Str(64),
      chunks: Type.Array(Type.Tuple([Str(64), Type.Integer({ minimum: 1 })])),
    }),
    { maxItems: 200_000 },
  ),
});
const Nullable = (t: ReturnType<typeof Str>) => Type.Union([Type.Null(), t]);
const ReportSchema = Type.Union([
  Type.Object({
    kind: Type.Literal('message'),
    message: Type.Object({
      id: Str(64),
      severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('error')]),
      component: Str(32),
      site: Str(8),
      text: Str(4096),
      package: Nullable(Str(16)),
      job: Nullable(Str(64)),
      subject: Type.Optional(Nullable(Str(8))),
      time: Type.Integer(),
    }),
  }),
  Type.Object({
    kind: Type.Literal('package-status'),
    status: Type.Object({
      package: Str(16),
      sourceVersion: Type.Integer(),
      site: Str(8),
      dp: Str(64),
      state: Str(32),
      error: Nullable(Str(4096)),
      updatedAt: Type.Integer(),
    }),
  }),
  Type.Object({
    kind: Type.Literal('site'),
    site: Type.Object({
      code: Str(8),
      type: Str(16),
      parent: Nullable(Str(8)),
      name: Nullable(Str(200)),
      url: Nullable(Str(2048)),
      state: Str(16),
      generation: Nullable(Str(64)),
      lastContact: Type.Union([Type.Null(), Type.Integer()]),
      error: Nullable(Str(4096)),
      updatedAt: Type.Integer(),
    }),
  }),
  Type.Object({ kind: Type.Literal('purge'), code: Str(8), at: Type.Integer() }),
]);

/** The routes a site that has not registered yet may call: its join token (or nothing) vouches for it. */
const UNSIGNED = new Set([
  '/s2s/v1/join',
  '/s2s/v1/join/check',
  '/s2s/v1/join/probe',
  '/s2s/v1/join/phase',
  '/s2s/v1/sites/:code/registration',
]);
const Token = Type.String({ maxLength: 200 });
const PhaseReport = {
  phase: Type.String({ maxLength: 32 }),
  state: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  error: Type.Optional(Type.String({ maxLength: 4096 })),
};

const rawBodies = new WeakMap<FastifyRequest, Buffer>();
const senders = new WeakMap<FastifyRequest, KnownPeer>();

/**
 * Site-to-site API (`/s2s/v1`). Every route but join is signed by a parent or child of this site,
 * at the generation this site holds for it; anything else is refused with 401 and a warning status
 * message here, and changes nothing.
 */
export function s2sRoutes(ctx: SiteContext) {
  const nonces = new NonceCache();

  async function authenticate(request: FastifyRequest, bodySha: string): Promise<void> {
    const claimed = request.headers['x-outpost-site'];
    const peer =
      typeof claimed === 'string' && isSiteCode(claimed) ? await findPeer(ctx, claimed) : undefined;
    try {
      const path = request.url.split('?')[0];
      senders.set(
        request,
        verifyRequest(
          request.headers,
          { method: request.method, path, bodySha },
          () => peer,
          nonces,
          ctx.clock.now(),
        ),
      );
    } catch (err) {
      const reason = (err as Error).message;
      ctx
        .log('hierman')
        .warn({ from: claimed, url: request.url, err: reason }, 'rejected a site-to-site request');
      await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
        severity: 'warning',
        component: 'hierman',
        text: `rejected a site-to-site request to ${request.url.split('?')[0]}: ${reason}`,
        subject: peer?.code,
      });
      throw err;
    }
  }

  function sender(request: FastifyRequest, relation: 'parent' | 'child'): string {
    const peer = senders.get(request);
    const isParent = peer?.code === ctx.config.parent?.code;
    if (!peer || (relation === 'parent') !== isParent) {
      throw new OutpostError(
        'OUTPOST_UNAUTHORIZED',
        `this request must come from ${relation === 'parent' ? 'the parent site' : 'a child site'}`,
      );
    }
    return peer.code;
  }

  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: 64 * 1024 * 1024 },
      (request, body, done) => {
        rawBodies.set(request, body as Buffer);
        try {
          done(null, (body as Buffer).length ? JSON.parse((body as Buffer).toString('utf8')) : {});
        } catch {
          done(new OutpostError('OUTPOST_BAD_INPUT', 'request body is not valid JSON'), undefined);
        }
      },
    );
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    app.addHook('preHandler', async (request) => {
      if (UNSIGNED.has(request.routeOptions.url ?? '')) return;
      if (request.routeOptions.url === '/s2s/v1/blocks') {
        // The signature covers the chunk list; each chunk is then checked against its listed hash.
        await authenticate(request, sha256Hex(String(request.headers['x-outpost-chunks'] ?? '')));
        return;
      }
      await authenticate(request, sha256Hex(rawBodies.get(request) ?? Buffer.alloc(0)));
    });

    app.post('/s2s/v1/join/check', { schema: { body: Type.Object({ token: Token }) } }, async (request) =>
      checkJoin(ctx, request.body.token),
    );
    app.post(
      '/s2s/v1/join/probe',
      { schema: { body: Type.Object({ token: Token, nonce: Type.String({ maxLength: 64 }) }) } },
      async (request) => probeJoiningSite(ctx, request.body.token, request.body.nonce),
    );
    app.post(
      '/s2s/v1/join/phase',
      { schema: { body: Type.Object({ token: Token, ...PhaseReport }) } },
      async (request) => acceptEarlyPhase(ctx, request.body),
    );
    app.post('/s2s/v1/phases', { schema: { body: Type.Object(PhaseReport) } }, async (request) =>
      acceptLatePhase(ctx, sender(request, 'child'), request.body),
    );
    app.get(
      '/s2s/v1/sites/:code/registration',
      { schema: { params: Type.Object({ code: Type.String({ maxLength: 8 }) }) } },
      async (request) => {
        const code = assertSiteCode(request.params.code);
        const row = await ctx.db
          .selectFrom('sites')
          .select(['state', 'relation'])
          .where('code', '=', code)
          .executeTakeFirst();
        const known = row?.relation === 'child' || row?.relation === 'descendant';
        return { parent: ctx.config.code, code, known, ...(known ? { state: row?.state } : {}) };
      },
    );
    app.post('/s2s/v1/deinstall', async (request) => {
      sender(request, 'parent');
      ctx.deinstall();
      return { stopping: true };
    });
    app.post(
      '/s2s/v1/sites/purge',
      { schema: { body: Type.Object({ code: Type.String({ maxLength: 8 }) }) } },
      async (request) => {
        sender(request, 'parent');
        return purgeSite(ctx, { code: request.body.code });
      },
    );

    app.post(
      '/s2s/v1/join',
      {
        schema: {
          body: Type.Object({
            token: Type.String({ maxLength: 200 }),
            publicKeyPem: Type.String({ maxLength: 4096 }),
            generation: Type.String({ maxLength: 64 }),
          }),
        },
      },
      async (request) => acceptJoin(ctx, request.body),
    );
    app.post('/s2s/v1/heartbeat', async (request) => acceptHeartbeat(ctx, sender(request, 'child')));
    app.post(
      '/s2s/v1/sites/check',
      { schema: { body: Type.Object({ code: Type.String({ maxLength: 8 }) }) } },
      async (request) => {
        sender(request, 'child');
        return { free: await isCodeFree(ctx, assertSiteCode(request.body.code)) };
      },
    );
    app.post(
      '/s2s/v1/reports',
      { schema: { body: Type.Object({ reports: Type.Array(Type.Unknown(), { maxItems: 5000 }) }) } },
      async (request) => {
        const child = sender(request, 'child');
        // Each report is checked on its own: one this site cannot read is dropped with a warning,
        // rather than refusing the batch and leaving the child's outbox stuck behind it for ever.
        const reports = request.body.reports.filter((r): r is Report => Value.Check(ReportSchema, r));
        const dropped = request.body.reports.length - reports.length;
        const applied = await ctx.db.transaction().execute(async (trx) => {
          if (dropped > 0) {
            await postMessage(trx, ctx.sink, ctx.clock.now(), {
              severity: 'warning',
              component: 'statmgr',
              text: `dropped ${dropped} malformed status reports from ${child}`,
              subject: child,
            });
          }
          return applyReports(trx, ctx.sink, reports, ctx.clock.now());
        });
        if (dropped > 0)
          ctx.log('statmgr').warn({ from: child, dropped }, 'dropped malformed status reports');
        if (applied > 0) ctx.wake.notify('statmgr');
        return { applied, dropped };
      },
    );

    app.post(
      '/s2s/v1/packages/offer',
      { schema: { body: Type.Object({ job: Type.String({ maxLength: 64 }), manifest: Manifest }) } },
      async (request) => {
        sender(request, 'parent');
        return acceptOffer(ctx, request.body);
      },
    );
    app.put('/s2s/v1/blocks', async (request) => {
      sender(request, 'parent');
      const list = parseBlockList(String(request.headers['x-outpost-chunks'] ?? ''));
      return acceptBlock(ctx, list, request.body as AsyncIterable<Uint8Array>);
    });
    app.post(
      '/s2s/v1/packages/assignments',
      {
        schema: {
          body: Type.Object({
            job: Type.String({ maxLength: 64 }),
            package: Type.String({ maxLength: 16 }),
            sourceVersion: Type.Union([Type.Null(), Type.Integer()]),
            dps: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10_000 }),
          }),
        },
      },
      async (request) => {
        sender(request, 'parent');
        return acceptAssignments(ctx, request.body);
      },
    );
  };
}
