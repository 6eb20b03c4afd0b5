import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { SiteContext } from '../../core/index.js';
import { OutpostError } from '../../errors/index.js';
import { HEADER, type KnownPeer, NonceCache, S2S, sha256Hex, verifyRequest } from '../../s2s/index.js';
import { findPeer, isSiteCode } from '../../sites/index.js';
import { postMessage } from '../../status/index.js';

/** Who may call a site-to-site route: anyone (a joining site's token vouches for it), the parent or a child. */
export type Caller = 'unsigned' | 'parent' | 'child';

declare module 'fastify' {
  interface FastifyRequest {
    /** The parent or child that signed this site-to-site request, once its signature is checked. */
    peer: KnownPeer | null;
    /** The exact bytes of a JSON body, which the signature covers. */
    rawBody: Buffer | null;
  }
  interface FastifyContextConfig {
    /** Who may call this site-to-site route. */
    caller?: Caller;
  }
}

const NO_BODY = Buffer.alloc(0);

/** The code of the site that signed `request`. */
export function peerCode(request: FastifyRequest): string {
  if (!request.peer) throw new OutpostError('OUTPOST_BAD_SIGNATURE', 'site-to-site request is not signed');
  return request.peer.code;
}

/**
 * Checks every site-to-site request against the caller its route names: unsigned, or signed by a
 * parent or child of this site at the generation this site holds for it. Anything else is refused
 * with 401 and a warning status message here, and changes nothing; a good request carries its
 * signer in `request.peer`. A transfer block's signature covers its chunk list instead of its body;
 * each chunk is then checked against its listed hash.
 */
export function signatures(ctx: SiteContext): FastifyPluginAsync {
  const nonces = new NonceCache();

  async function authenticate(request: FastifyRequest, bodySha: string): Promise<KnownPeer> {
    const claimed = request.headers[HEADER.site];
    const peer =
      typeof claimed === 'string' && isSiteCode(claimed) ? await findPeer(ctx, claimed) : undefined;
    const path = request.url.split('?')[0];
    try {
      return verifyRequest(
        request.headers,
        { method: request.method, path, bodySha },
        () => peer,
        nonces,
        ctx.clock.now(),
      );
    } catch (err) {
      const reason = (err as Error).message;
      ctx
        .log('hierman')
        .warn({ from: claimed, url: request.url, err: reason }, 'rejected a site-to-site request');
      await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
        severity: 'warning',
        component: 'hierman',
        text: `rejected a site-to-site request to ${path}: ${reason}`,
        subject: peer?.code,
      });
      throw err;
    }
  }

  const plugin: FastifyPluginAsync = async (app) => {
    app.decorateRequest('peer', null);
    app.decorateRequest('rawBody', null);
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: 64 * 1024 * 1024 },
      (request, body, done) => {
        const bytes = body as Buffer;
        request.rawBody = bytes;
        try {
          done(null, bytes.length ? JSON.parse(bytes.toString('utf8')) : {});
        } catch {
          done(new OutpostError('OUTPOST_BAD_INPUT', 'request body is not valid JSON'), undefined);
        }
      },
    );
    app.addHook('preHandler', async (request) => {
      const caller = request.routeOptions.config.caller;
      if (caller === 'unsigned') return;
      const signed =
        request.routeOptions.url === S2S.blocks
          ? String(request.headers[HEADER.chunks] ?? '')
          : (request.rawBody ?? NO_BODY);
      const peer = await authenticate(request, sha256Hex(signed));
      const from: Caller = peer.code === ctx.config.parent?.code ? 'parent' : 'child';
      if (from !== caller) {
        throw new OutpostError(
          'OUTPOST_UNAUTHORIZED',
          `this request must come from ${caller === 'parent' ? 'the parent site' : 'a child site'}`,
        );
      }
      request.peer = peer;
    });
  };
  // Like fastify-plugin: the parser, hook and decorators apply to the routes registered beside it.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}
