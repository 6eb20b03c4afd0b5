import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { clientKey, clientPolicy, registerClient, reportClientStatus } from '../mp/index.js';
import {
  clientIdOf,
  isClientId,
  MP,
  MP_BODY_LIMIT,
  MP_HEADER,
  NonceCache,
  RegisterBody,
  StatusBody,
  sha256Hex,
  verifyClientRequest,
} from '../s2s/index.js';
import { AddressLimit } from './s2s/ratelimit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The SHA-256 of a management point request's body as it arrived. */
    mpBodySha: string | null;
  }
}

/**
 * The management point (`/mp/v1`), on every site: client registration, policy and status. Every
 * request is signed with the client's own Ed25519 key (see docs/MP-PROTOCOL.md): registration with
 * the key it registers (proving it holds it), the rest with the key registered here. A client's
 * address is the request's remote address; a client outside this site's boundaries is told so and
 * gets no policy.
 */
export function managementPointRoutes(ctx: SiteContext): FastifyPluginAsyncTypebox {
  const nonces = new NonceCache();
  const registrations = new AddressLimit(ctx.settings.unsignedPerMinute);

  /**
   * Checks the headers of a request signed by a client whose key `keyOf` gives, then, once the body
   * has been read, that it is the body signed. Returns the client.
   */
  function verify(request: FastifyRequest, keyOf: (client: string) => string | undefined): string {
    const signed = verifyClientRequest(
      request.headers,
      { method: request.method, path: request.url.split('?')[0] },
      keyOf,
      nonces,
      ctx.clock.now(),
    );
    if ((request.mpBodySha ?? sha256Hex('')) !== signed.bodySha)
      throw new OutpostError(
        'OUTPOST_BAD_SIGNATURE',
        `request from client ${signed.client}: body does not match its signed hash`,
      );
    return signed.client;
  }

  /** The client that signed `request` with the key it registered here. */
  async function registeredSigner(request: FastifyRequest): Promise<string> {
    const claimed = request.headers[MP_HEADER.client];
    const key =
      typeof claimed === 'string' && isClientId(claimed) ? await clientKey(ctx, claimed) : undefined;
    return verify(request, () => key);
  }

  return async (app) => {
    app.decorateRequest('mpBodySha', null);
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: MP_BODY_LIMIT },
      (request, body, done) => {
        const bytes = body as Buffer;
        request.mpBodySha = sha256Hex(bytes);
        try {
          done(null, bytes.length ? JSON.parse(bytes.toString('utf8')) : {});
        } catch {
          done(new OutpostError('OUTPOST_BAD_INPUT', 'request body is not valid JSON'), undefined);
        }
      },
    );

    app.post(
      MP.register,
      {
        bodyLimit: MP_BODY_LIMIT,
        schema: { body: RegisterBody },
        onRequest: async (request, reply) => {
          const wait = registrations.take(request.ip, ctx.clock.now());
          if (wait === null) return;
          reply.header('retry-after', String(wait));
          throw new OutpostError('OUTPOST_RATE_LIMITED', `too many registrations from ${request.ip}`, {
            hint: `try again in ${wait} s`,
          });
        },
      },
      async (request) => {
        const id = clientIdOf(request.body.publicKey);
        if (request.headers[MP_HEADER.client] !== id)
          throw new OutpostError(
            'OUTPOST_BAD_SIGNATURE',
            `registration must be signed as client ${id}, the id of its key`,
          );
        verify(request, () => request.body.publicKey);
        return registerClient(ctx, { ...request.body, address: request.ip });
      },
    );

    app.get(MP.policy, async (request) => clientPolicy(ctx, await registeredSigner(request), request.ip));
    app.post(MP.status, { bodyLimit: MP_BODY_LIMIT, schema: { body: StatusBody } }, async (request) =>
      reportClientStatus(ctx, await registeredSigner(request), request.body),
    );
  };
}
