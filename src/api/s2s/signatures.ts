import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { SiteContext } from '../../core/index.js';
import { OutpostError } from '../../errors/index.js';
import {
  BODY_LIMIT,
  bodyMismatch,
  HEADER,
  type KnownPeer,
  NDJSON,
  NonceCache,
  type Refusal,
  S2S,
  type S2SPath,
  sha256Hex,
  verifyRequest,
} from '../../s2s/index.js';
import { findPeer, isSiteCode } from '../../sites/index.js';
import { postMessage } from '../../status/index.js';
import { hasBody } from '../limits.js';
import { AddressLimit } from './ratelimit.js';
import { RejectionTally, type RejectReason } from './rejections.js';

/**
 * Who may call a site-to-site route: anyone (a joining site's token vouches for it), the parent, a
 * child, or either of them (`peer`).
 */
export type Caller = 'unsigned' | 'parent' | 'child' | 'peer';

declare module 'fastify' {
  interface FastifyRequest {
    /** The parent or child that signed this site-to-site request, once its signature is checked. */
    peer: KnownPeer | null;
    /** The body hash a signed request declared, until its body has been checked against it. */
    unverifiedBodySha: string | null;
  }
  interface FastifyContextConfig {
    /** Who may call this site-to-site route. */
    caller?: Caller;
  }
}

const EMPTY_SHA = sha256Hex('');
/** Routes whose signature covers a header instead of the body; each byte of the body is checked by hash. */
const SIGNED_HEADER: Record<string, string> = { [S2S.blocks]: HEADER.chunks, [S2S.patches]: HEADER.patch };

function tooLarge(limit: number): OutpostError {
  return new OutpostError(
    'OUTPOST_TOO_LARGE',
    `request body is larger than the ${limit} bytes its route carries`,
  );
}

/**
 * A streamed body as it arrives, bounded by its route's limit. When it was signed, the bytes are
 * hashed on the way and the last read throws `mismatch()` unless they are the signed ones: whoever
 * reads it acts on what it read only once it has read it to the end.
 */
async function* checkedBody(
  payload: AsyncIterable<Uint8Array>,
  limit: number,
  signed: { sha: string; mismatch: () => Error } | null,
): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of payload) {
    bytes += piece.byteLength;
    if (bytes > limit) throw tooLarge(limit);
    hash.update(piece);
    yield piece;
  }
  if (signed && hash.digest('hex') !== signed.sha) throw signed.mismatch();
}

type Refused = Pick<Refusal, 'error'> & { fault: RejectReason };

/** The code of the site that signed `request`. */
export function peerCode(request: FastifyRequest): string {
  if (!request.peer) throw new OutpostError('OUTPOST_BAD_SIGNATURE', 'site-to-site request is not signed');
  return request.peer.code;
}

function isS2SPath(url: string): url is S2SPath {
  return Object.values<string>(S2S).includes(url);
}

/**
 * Guards every site-to-site route by the caller it names. Unsigned routes (join, registration) are
 * rate-limited per address. Signed ones must be signed by a parent or child of this site at the
 * generation this site holds for it, and that is checked on the headers alone, before a byte of
 * the body is read: a refused request is answered 401 at once and its connection closed. The body
 * is then checked against the hash the signature covers as it is parsed (a transfer block's
 * signature covers its chunk list instead; each chunk is checked against its listed hash; a
 * streamed NDJSON body is handed on as it arrives and checked at its end). Every route gets the body
 * limit {@link BODY_LIMIT} names for it. Refusals are counted and reported
 * per source and reason (see {@link RejectionTally}); a good request carries its signer in
 * `request.peer`.
 */
export function signatures(ctx: SiteContext): FastifyPluginAsync {
  const nonces = new NonceCache();
  const unsignedLimit = new AddressLimit(ctx.settings.unsignedPerMinute);
  const rejections = new RejectionTally({
    metrics: ctx.metrics,
    log: ctx.log('hierman'),
    intervalMs: ctx.settings.rejectionReportMs,
    post: async (text, subject) => {
      await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
        severity: 'warning',
        component: 'hierman',
        text,
        subject,
      });
    },
  });

  function record(request: FastifyRequest, refusal: Refused, peer?: KnownPeer): void {
    const claimed = request.headers[HEADER.site];
    rejections.record({
      address: request.ip,
      claimed: typeof claimed === 'string' && isSiteCode(claimed) ? claimed : null,
      peer: peer?.code ?? null,
      reason: refusal.fault,
      detail: refusal.error.message,
      url: request.url,
    });
  }

  /** Refuses a request before its body is read. */
  function refuse(request: FastifyRequest, reply: FastifyReply, refusal: Refused, peer?: KnownPeer): never {
    record(request, refusal, peer);
    // Its body may still be on the way: close the connection rather than read it to the end.
    reply.header('connection', 'close');
    throw refusal.error;
  }

  async function authenticate(request: FastifyRequest, reply: FastifyReply, caller: Caller): Promise<void> {
    const claimed = request.headers[HEADER.site];
    const peer =
      typeof claimed === 'string' && isSiteCode(claimed) ? await findPeer(ctx, claimed) : undefined;
    const path = request.url.split('?')[0];
    const verdict = verifyRequest(
      request.headers,
      { method: request.method, path },
      () => peer,
      nonces,
      ctx.clock.now(),
    );
    if ('fault' in verdict) refuse(request, reply, verdict, peer);
    const from: Caller = verdict.peer.code === ctx.config.parent?.code ? 'parent' : 'child';
    if (caller !== 'peer' && from !== caller) {
      const error = new OutpostError(
        'OUTPOST_UNAUTHORIZED',
        `this request must come from ${caller === 'parent' ? 'the parent site' : 'a child site'}`,
      );
      refuse(request, reply, { fault: 'wrong-caller', error }, peer);
    }
    // A block's signature covers its chunk list, a patch's its patch header, and an absent body's
    // hash is known: these are checked now. Any other body is checked against the signed hash as
    // it is parsed.
    const signedHeader = SIGNED_HEADER[request.routeOptions.url ?? ''];
    const checkNow = signedHeader
      ? sha256Hex(String(request.headers[signedHeader] ?? ''))
      : hasBody(request.raw)
        ? null
        : EMPTY_SHA;
    if (checkNow !== null && checkNow !== verdict.bodySha)
      refuse(request, reply, bodyMismatch(verdict.peer.code), peer);
    request.unverifiedBodySha = checkNow === null ? verdict.bodySha : null;
    request.peer = verdict.peer;
  }

  const plugin: FastifyPluginAsync = async (app) => {
    app.decorateRequest('peer', null);
    app.decorateRequest('unverifiedBodySha', null);
    app.addHook('onClose', async () => {
      await rejections.flush();
    });
    app.addHook('onRoute', (route) => {
      if (isS2SPath(route.url)) route.bodyLimit ??= BODY_LIMIT[route.url];
    });
    app.addHook('onRequest', async (request, reply) => {
      const caller = request.routeOptions.config.caller;
      if (caller === undefined) return;
      if (caller !== 'unsigned') return authenticate(request, reply, caller);
      const wait = unsignedLimit.take(request.ip, ctx.clock.now());
      if (wait === null) return;
      reply.header('retry-after', String(wait));
      const error = new OutpostError('OUTPOST_RATE_LIMITED', `too many requests from ${request.ip}`, {
        hint: `try again in ${wait} s`,
      });
      refuse(request, reply, { fault: 'rate-limited', error });
    });
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      const bytes = body as Buffer;
      const declared = request.unverifiedBodySha;
      if (declared !== null && request.peer && sha256Hex(bytes) !== declared) {
        const refusal = bodyMismatch(request.peer.code);
        record(request, refusal, request.peer);
        done(refusal.error, undefined);
        return;
      }
      request.unverifiedBodySha = null;
      try {
        done(null, bytes.length ? JSON.parse(bytes.toString('utf8')) : {});
      } catch {
        done(new OutpostError('OUTPOST_BAD_INPUT', 'request body is not valid JSON'), undefined);
      }
    });
    app.addContentTypeParser(NDJSON, (request, payload, done) => {
      const limit = request.routeOptions.bodyLimit;
      if (Number(request.headers['content-length']) > limit) {
        done(tooLarge(limit), undefined);
        return;
      }
      const declared = request.unverifiedBodySha;
      const peer = request.peer;
      request.unverifiedBodySha = null;
      const mismatch = () => {
        const refusal = bodyMismatch(peer?.code ?? 'an unknown site');
        record(request, refusal, peer ?? undefined);
        return refusal.error;
      };
      done(null, checkedBody(payload, limit, declared === null ? null : { sha: declared, mismatch }));
    });
    app.addHook('preHandler', async (request, reply) => {
      // A body no parser checked against its signed hash (one of another content type) is refused.
      if (request.unverifiedBodySha !== null && request.peer)
        refuse(request, reply, bodyMismatch(request.peer.code), request.peer);
    });
  };
  // Like fastify-plugin: the parser, hooks and decorators apply to the routes registered beside it.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}
