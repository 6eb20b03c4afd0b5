import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { OneSite, S2S } from '../../s2s/index.js';
import { acceptHeartbeat, assertSiteCode, isCodeFree, purgeSite, registrationOf } from '../../sites/index.js';
import { peerCode } from './signatures.js';

/** The hierarchy between this site and its neighbours: heartbeats, codes, registration, removal. */
export function siteRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      S2S.registration,
      { config: { caller: 'unsigned' }, schema: { params: OneSite } },
      async (request) => registrationOf(ctx, assertSiteCode(request.params.code)),
    );
    app.post(S2S.heartbeat, { config: { caller: 'child' } }, async (request) =>
      acceptHeartbeat(ctx, peerCode(request)),
    );
    app.post(S2S.siteCheck, { config: { caller: 'child' }, schema: { body: OneSite } }, async (request) => ({
      free: await isCodeFree(ctx, assertSiteCode(request.body.code)),
    }));
    app.post(S2S.sitePurge, { config: { caller: 'parent' }, schema: { body: OneSite } }, async (request) =>
      purgeSite(ctx, { code: request.body.code }),
    );
    app.post(S2S.deinstall, { config: { caller: 'parent' } }, async () => {
      ctx.deinstall();
      return { stopping: true };
    });
  };
}
