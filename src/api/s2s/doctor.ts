import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SiteContext } from '../../core/index.js';
import { answerIdentity, runDoctor } from '../../doctor/index.js';
import { DoctorBody, IdentityBody, S2S } from '../../s2s/index.js';

/** What `doctor` asks of a neighbour: its identity, or the checks of it or of a site below it. */
export function doctorRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(S2S.identity, { config: { caller: 'peer' }, schema: { body: IdentityBody } }, async (request) =>
      answerIdentity(ctx, request.body.nonce),
    );
    app.post(S2S.doctor, { config: { caller: 'parent' }, schema: { body: DoctorBody } }, async (request) =>
      runDoctor(ctx, request.body),
    );
  };
}
