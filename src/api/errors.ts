import type { FastifyError, FastifyInstance } from 'fastify';
import { OutpostError, toErrorBody } from '../errors/index.js';

/** Every API error leaves as `{"error": {"code", "message", "hint"?}}` with the status its code maps to. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let error: unknown = err;
    if (err.validation) {
      const first = err.validation[0];
      const where = `${err.validationContext ?? 'request'}${first?.instancePath ? first.instancePath.replace(/\//g, '.') : ''}`;
      const field = first?.keyword === 'additionalProperties' ? first.params.additionalProperty : undefined;
      error = new OutpostError(
        'OUTPOST_BAD_INPUT',
        typeof field === 'string'
          ? `${where} has unknown field '${field}'`
          : `${where} ${first?.message ?? 'is invalid'}`,
      );
    } else if (!(err instanceof OutpostError) && err.statusCode && err.statusCode < 500) {
      error = new OutpostError(
        err.statusCode === 413 ? 'OUTPOST_TOO_LARGE' : 'OUTPOST_BAD_INPUT',
        err.message,
      );
    }
    const { status, body } = toErrorBody(error);
    if (status >= 500) request.log.error({ err }, 'request failed');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toErrorBody(
      new OutpostError(
        'OUTPOST_NOT_FOUND',
        `no such endpoint: ${request.method} ${request.url.split('?')[0]}`,
      ),
    );
    return reply.code(status).send(body);
  });
}
