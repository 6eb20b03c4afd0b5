import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { systemClock } from '../common/index.js';
import { FileContentStore } from '../content/index.js';
import { openDatabase } from '../db/index.js';
import { databaseConfigOf, dataPaths, readAdminToken, readSiteConfig } from '../host/datadir.js';
import { createLoggers } from '../logs/index.js';
import { JobSender, reconcile, TransferRegistry } from '../replication/index.js';
import { loadSiteKeys } from '../s2s/index.js';
import { assertListen, sendHeartbeat, watchChildren } from '../sites/index.js';
import { forwardReports } from '../status/index.js';
import { buildApp } from './app.js';
import { DEFAULT_SETTINGS, runLoop, type ServerSettings, type SiteContext, Wake } from './context.js';
import { createMetrics } from './metrics.js';

export interface RunningSite {
  ctx: SiteContext;
  app: FastifyInstance;
  url: string;
  stop(): Promise<void>;
}

/** Starts a site server from its data directory: HTTP on its listen address and every component loop. */
export async function startSite(
  dataDir: string,
  options: { listen?: string; settings?: Partial<ServerSettings> } = {},
): Promise<RunningSite> {
  const paths = dataPaths(dataDir);
  const config = await readSiteConfig(dataDir);
  const listen = assertListen(options.listen ?? config.listen);
  const settings: ServerSettings = { ...DEFAULT_SETTINGS, ...options.settings };
  const { db, close } = await openDatabase(databaseConfigOf(config, paths));
  const keys = loadSiteKeys(await readFile(paths.privateKey, 'utf8'));
  const loggers = createLoggers(paths.logs, config.code);
  const ctx: SiteContext = {
    paths,
    config,
    db,
    store: new FileContentStore(paths.chunks),
    keys,
    clock: systemClock,
    log: loggers.log,
    settings,
    wake: new Wake(),
    metrics: createMetrics(),
    identity: { site: config.code, generation: config.generation, keys, clock: systemClock },
    sink: { site: config.code, hasParent: config.parent !== null },
  };
  const app = await buildApp(ctx, await readAdminToken(dataDir));
  const [host, port] = [
    listen.slice(0, listen.lastIndexOf(':')),
    Number(listen.slice(listen.lastIndexOf(':') + 1)),
  ];
  await app.listen({ host: host.replace(/^\[|\]$/g, ''), port });

  const stopping = new AbortController();
  const transfers = new TransferRegistry();
  const sender = new JobSender(ctx, transfers);
  const tick = (ms: number) => Math.max(200, Math.min(ms, 5_000));
  const loops = [
    runLoop(ctx, 'distmgr', 'distmgr', 2_000, stopping.signal, () => reconcile(ctx, transfers)),
    runLoop(ctx, 'sender', 'sender', 1_000, stopping.signal, () => sender.tick()),
    runLoop(ctx, 'statmgr', 'statmgr', 1_000, stopping.signal, async () => {
      await forwardReports(ctx);
    }),
    runLoop(ctx, 'hierman', 'hierman', settings.heartbeatMs, stopping.signal, () => sendHeartbeat(ctx)),
    runLoop(ctx, 'hierman', 'hierman', tick(settings.unreachableAfterMs / 4), stopping.signal, () =>
      watchChildren(ctx),
    ),
  ];
  ctx.log('hierman').info({ listen, generation: config.generation }, `site ${config.code} started`);

  let stopped = false;
  return {
    ctx,
    app,
    url: config.url,
    async stop() {
      if (stopped) return;
      stopped = true;
      stopping.abort();
      transfers.abortAll('site server stopping');
      await app.close();
      await sender.drain();
      await Promise.allSettled(loops);
      loggers.flush();
      await close();
    },
  };
}
