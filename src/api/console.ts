import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import send from '@fastify/send';
import type { FastifyPluginAsync } from 'fastify';
import { OutpostError } from '../errors/index.js';

/** The web console's built assets (`vite build` writes them to dist/console), found from src/ or dist/src/. */
export const CONSOLE_DIR = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'console');
})();

/**
 * The web console at `/`: its page, and its hashed assets under `/assets/`. The console routes by
 * the URL's fragment (`/#/sites/S02`), so no server path of its own can shadow `/api`, `/s2s`,
 * `/dp`, `/mp` or `/metrics`.
 */
export function consoleRoutes(dir = CONSOLE_DIR): FastifyPluginAsync {
  return async (app) => {
    const page = async () => {
      try {
        return await readFile(join(dir, 'index.html'), 'utf8');
      } catch {
        throw new OutpostError('OUTPOST_NOT_FOUND', 'the web console is not built here', {
          hint: 'run npm run build in the Outpost checkout',
        });
      }
    };
    for (const url of ['/', '/index.html'])
      app.get(url, async (_request, reply) =>
        reply
          .header('content-type', 'text/html; charset=utf-8')
          .header('cache-control', 'no-cache')
          .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'")
          .send(await page()),
      );
    app.get('/assets/*', async (request, reply) => {
      const file = (request.params as { '*': string })['*'];
      // Only the flat, hashed file names vite writes: nothing that could climb out of the folder.
      if (!/^[A-Za-z0-9_.-]+$/.test(file) || file.startsWith('.'))
        throw new OutpostError('OUTPOST_NOT_FOUND', `no such console asset: ${file}`);
      const sent = await send(request.raw, file, {
        root: join(dir, 'assets'),
        immutable: true,
        maxAge: '1y',
      });
      if (sent.type !== 'file') throw new OutpostError('OUTPOST_NOT_FOUND', `no such console asset: ${file}`);
      reply.code(sent.statusCode);
      for (const [name, value] of Object.entries(sent.headers)) reply.header(name, value);
      return reply.send(sent.stream);
    });
  };
}
