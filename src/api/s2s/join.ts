import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import {
  JoinBody,
  JoinCheckBody,
  JoinPhaseBody,
  JoinProbeBody,
  PhaseReportBody,
  S2S,
} from '../../s2s/index.js';
import {
  acceptEarlyPhase,
  acceptJoin,
  acceptLatePhase,
  checkJoin,
  probeJoiningSite,
} from '../../sites/index.js';
import { peerCode } from './signatures.js';

/** A new site joining this one: preflight checks, registration, and its install phases. */
export function joinRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    const unsigned = { caller: 'unsigned' } as const;
    app.post(S2S.joinCheck, { config: unsigned, schema: { body: JoinCheckBody } }, async (request) =>
      checkJoin(ctx, request.body.token),
    );
    app.post(S2S.joinProbe, { config: unsigned, schema: { body: JoinProbeBody } }, async (request) =>
      probeJoiningSite(ctx, request.body.token, request.body.nonce),
    );
    app.post(S2S.joinPhase, { config: unsigned, schema: { body: JoinPhaseBody } }, async (request) =>
      acceptEarlyPhase(ctx, request.body),
    );
    app.post(S2S.join, { config: unsigned, schema: { body: JoinBody } }, async (request) =>
      acceptJoin(ctx, request.body),
    );
    app.post(
      S2S.phases,
      { config: { caller: 'child' }, schema: { body: PhaseReportBody } },
      async (request) => acceptLatePhase(ctx, peerCode(request), request.body),
    );
  };
}
