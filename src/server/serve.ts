import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { systemClock } from '../common/index.js';
import { FileContentStore } from '../content/index.js';
import {
  createMetrics,
  DEFAULT_SETTINGS,
  runLoop,
  type ServerSettings,
  type SiteContext,
  TransferRegistry,
  Wake,
} from '../core/index.js';
import { openDatabase } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import {
  databaseConfigOf,
  dataPaths,
  formatListen,
  type ListenAddress,
  parseListen,
  purgeHost,
  readAdminToken,
  readSiteConfig,
} from '../host/index.js';
import { Leadership, newLeaseOwner, registerOwner, retireOwner, takeBackLeases } from '../jobs/index.js';
import { createLoggers } from '../logs/index.js';
import { pushPolicies } from '../mp/index.js';
import { advanceRebuilds } from '../rebuild/index.js';
import { DistmgrRounds, JobSender } from '../replication/index.js';
import { loadSiteKeys } from '../s2s/index.js';
import {
  assertListen,
  deinstallChildren,
  reportInstallProgress,
  sendHeartbeat,
  watchChildren,
} from '../sites/index.js';
import { foldPackageStatusCounts, forwardReports } from '../status/index.js';
import { buildApp } from './app.js';

export interface RunningSite {
  ctx: SiteContext;
  app: FastifyInstance;
  url: string;
  stop(): Promise<void>;
  /** Resolves when the server has stopped, by stop() or because the parent deleted the site. */
  stopped: Promise<void>;
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
  const { db, dialect, close } = await openDatabase(databaseConfigOf(config, paths));
  const keys = loadSiteKeys(await readFile(paths.privateKey, 'utf8'));
  const loggers = createLoggers(paths.logs, config.code);
  const store = new FileContentStore(paths.chunks);
  await store.clearTemporary();
  const stopping = new AbortController();
  let markStopped = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  const ctx: SiteContext = {
    paths,
    config,
    db,
    store,
    keys,
    clock: systemClock,
    log: loggers.log,
    settings,
    wake: new Wake(),
    metrics: createMetrics(),
    identity: { site: config.code, generation: config.generation, keys, clock: systemClock },
    sink: { site: config.code, hasParent: config.parent !== null },
    transfers: new TransferRegistry(),
    deinstall: () => {
      // After the answer to the parent has gone out: tell this site's own children, stop, then
      // remove this install from the host.
      setTimeout(() => {
        ctx.log('hierman').warn('the parent deleted this site: stopping and removing the install');
        deinstallChildren(ctx)
          .catch(() => [])
          .then(() => stop())
          .then(() => purgeHost({ code: config.code, dataDir: paths.root }))
          .catch(() => undefined)
          .finally(markStopped);
      }, 100);
    },
  };
  const app = await buildApp(ctx, await readAdminToken(dataDir));
  try {
    await listenOrSayWho(app, listen, config.code);
  } catch (err) {
    await app.close();
    await close();
    throw err;
  }

  // Only this site's own processes can have run its jobs: the leases of those that are gone are
  // taken back now, so a restart resumes at once instead of after the lease time.
  const leaseOwner = newLeaseOwner();
  await registerOwner(db, leaseOwner, systemClock.now());
  const takenBack = await takeBackLeases(db, leaseOwner, systemClock.now(), settings.leaseMs);
  if (takenBack > 0)
    ctx.log('sender').info({ jobs: takenBack }, 'took back the jobs of an earlier process of this site');
  // Several processes of the site may share a PostgreSQL database: each sends jobs, but the
  // components that decide what to do run in one of them at a time, and so does the sending on a
  // link with a rate limit.
  const leadership = new Leadership(db, leaseOwner.owner, settings.leaseMs);
  const sender = new JobSender(
    ctx,
    leaseOwner,
    settings.leaseMs,
    dialect === 'postgres',
    settings.maxTransfers,
    (site) => leadership.lead(`link:${site}`, systemClock.now()),
  );
  const asLeader = (role: string, tick: () => Promise<unknown>) => async () => {
    if (await leadership.lead(role, systemClock.now())) await tick();
  };
  // Only what changed since the last round, with a full round at start and every few minutes.
  const distmgr = new DistmgrRounds();
  const loops = [
    runLoop(
      ctx,
      'distmgr',
      'distmgr',
      2_000,
      stopping.signal,
      asLeader('distmgr', () => distmgr.round(ctx)),
    ),
    runLoop(ctx, 'sender', 'sender', 1_000, stopping.signal, () => sender.tick()),
    runLoop(
      ctx,
      'mp',
      'mp',
      2_000,
      stopping.signal,
      asLeader('mp', () => pushPolicies(ctx)),
    ),
    runLoop(
      ctx,
      'statmgr',
      'statmgr',
      1_000,
      stopping.signal,
      asLeader('statmgr', () => forwardReports(ctx)),
    ),
    runLoop(
      ctx,
      'statmgr',
      'statmgr',
      60_000,
      stopping.signal,
      asLeader('statmgr', () => foldPackageStatusCounts(db)),
    ),
    runLoop(ctx, 'hierman', 'hierman', settings.heartbeatMs, stopping.signal, async () => {
      await reportInstallProgress(ctx);
      await sendHeartbeat(ctx);
    }),
    runLoop(
      ctx,
      'hierman',
      'hierman',
      Math.max(200, Math.min(settings.unreachableAfterMs / 4, 1_000)),
      stopping.signal,
      () => watchChildren(ctx),
    ),
    // Rebuild runbooks: steps that check a condition (the new host joined, offers answered) go on by themselves.
    runLoop(
      ctx,
      'rebuild',
      'rebuild',
      5_000,
      stopping.signal,
      asLeader('rebuild', () => advanceRebuilds(ctx)),
    ),
  ];
  ctx.log('hierman').info({ listen, generation: config.generation }, `site ${config.code} started`);

  let stopping$: Promise<void> | null = null;
  function stop(): Promise<void> {
    stopping$ ??= (async () => {
      stopping.abort();
      ctx.transfers.abortAll('site server stopping');
      await app.close();
      await sender.drain();
      await Promise.allSettled(loops);
      // Left registered if this fails: the next start sees its pid gone and takes its leases back.
      await retireOwner(db, leaseOwner.owner).catch(() => undefined);
      await leadership.resign().catch(() => undefined);
      await close();
    })();
    return stopping$;
  }
  return {
    ctx,
    app,
    url: config.url,
    stopped,
    async stop() {
      await stop();
      markStopped();
    },
  };
}

/** The code of the Outpost site answering at `address` (its unauthenticated /healthz), or null. */
async function siteListeningAt(address: ListenAddress): Promise<string | null> {
  // A wildcard listener is reached through loopback.
  const host = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  try {
    const res = await fetch(`http://${formatListen({ host, port: address.port })}/healthz`, {
      signal: AbortSignal.timeout(3_000),
    });
    const body = (await res.json()) as { site?: unknown };
    return typeof body.site === 'string' ? body.site : null;
  } catch {
    return null;
  }
}

/** Listens on `listen`; when another process has the port, the error says which site it is. */
async function listenOrSayWho(app: FastifyInstance, listen: string, self: string): Promise<void> {
  const address = parseListen(listen);
  try {
    await app.listen(address);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const holder = await siteListeningAt(address);
    const who =
      holder === null
        ? 'another program (not an Outpost site server) listens there'
        : holder === self
          ? `site ${holder} is already running there (another outpost serve of this site)`
          : `site ${holder} already listens there`;
    throw new OutpostError('OUTPOST_ADDRESS_IN_USE', `cannot listen on ${listen}: ${who}`, {
      hint: holder === self ? 'stop the other server first' : 'stop it, or pass --listen HOST:PORT',
    });
  }
}
