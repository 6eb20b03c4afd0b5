import type { IncomingMessage, Server } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyHttpOptions, FastifyInstance } from 'fastify';
import type { ServerSettings } from '../core/index.js';

/**
 * What bounds a connection: its request head must arrive within the headers timeout (Node checks
 * every half of it, so a silent or half-sent head is cut within 1.5 times it), and an idle
 * kept-alive connection closes after the keep-alive timeout. There is no limit on a whole request:
 * a transfer slowed by its address's rate limit may take as long as it needs while it moves.
 */
export function connectionLimits(
  settings: Pick<ServerSettings, 'headersTimeoutMs' | 'keepAliveTimeoutMs'>,
): FastifyHttpOptions<Server> {
  return {
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    requestTimeout: 0,
    http: {
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.max(50, Math.floor(settings.headersTimeoutMs / 2)),
    },
  };
}

/** Whether a request announces a body (of at least one byte, or of a length it does not say). */
export function hasBody(raw: IncomingMessage): boolean {
  return raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length']) > 0;
}

/**
 * Cuts a connection whose request body stops arriving for `idleMs`. The socket's inactivity timer
 * runs only while a body is on its way: once the body has ended, a handler may work as long as it
 * needs (a package of many files takes minutes to create) before it answers.
 */
export function cutStalledBodies(app: FastifyInstance, idleMs: number): void {
  app.addHook('onRequest', async (request) => {
    const raw = request.raw;
    const socket = raw.socket;
    // An injected request (app.inject) has no connection to cut.
    if (!hasBody(raw) || raw.complete || !(socket instanceof Socket)) return;
    // Node destroys a socket whose timer fires when nothing else listens for its timeout.
    socket.setTimeout(idleMs);
    raw.once('end', () => {
      if (socket.timeout === idleMs) socket.setTimeout(0);
    });
  });
}
