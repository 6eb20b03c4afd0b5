import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { type Clock, sleep } from '../common/index.js';
import type { ContentStore } from '../content/index.js';
import type { Database } from '../db/index.js';
import type { DataPaths, SiteConfig } from '../host/index.js';
import type { Component, Loggers } from '../logs/index.js';
import type { Sender, SiteKeys } from '../s2s/index.js';
import type { ReportSink } from '../status/index.js';
import type { Metrics } from './metrics.js';
import type { TransferRegistry } from './transfers.js';

/** Server settings an administrator (or an impatient test) can change. */
export interface ServerSettings {
  heartbeatMs: number;
  unreachableAfterMs: number;
  /** How long a job stays with a sender that makes no progress before another may take it. */
  leaseMs: number;
  /** A connection must have sent a whole request head within this; a silent or half-sent one is cut. */
  headersTimeoutMs: number;
  /** A request body that sends nothing for this long is cut; a slow one that keeps moving never is. */
  bodyIdleTimeoutMs: number;
  /** How long an idle kept-alive connection stays open between requests. */
  keepAliveTimeoutMs: number;
  /** Requests to the unsigned site-to-site routes (join, registration) one address may make per minute. */
  unsignedPerMinute: number;
  /** Refused site-to-site requests are reported as one status message per source and reason per this. */
  rejectionReportMs: number;
  /** Jobs this process runs at once over all links: with several processes, each runs its share. */
  maxTransfers: number;
}

export const DEFAULT_SETTINGS: ServerSettings = {
  heartbeatMs: 30_000,
  unreachableAfterMs: 180_000,
  leaseMs: 60_000,
  headersTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  unsignedPerMinute: 100,
  rejectionReportMs: 60_000,
  maxTransfers: 16,
};

export type WakeTopic = 'distmgr' | 'sender' | 'statmgr' | 'hierman' | 'rebuild' | 'mp';

/** Lets one component nudge another's loop instead of waiting for its next tick. */
export class Wake {
  private readonly events = new EventEmitter();
  /** Nudges that came while nobody was waiting: the next wait returns at once. */
  private readonly pending = new Set<WakeTopic>();

  constructor() {
    this.events.setMaxListeners(100);
  }

  notify(topic: WakeTopic): void {
    if (this.events.listenerCount(topic) === 0) this.pending.add(topic);
    this.events.emit(topic);
  }

  /** Waits for a nudge on `topic`, at most `ms`, or until `signal` aborts. */
  async wait(topic: WakeTopic, ms: number, signal: AbortSignal): Promise<void> {
    // A loop stopped during its round must not then sleep a whole interval (up to the heartbeat).
    if (this.pending.delete(topic) || signal.aborted) return;
    const nudged = new AbortController();
    const onNudge = () => nudged.abort();
    this.events.once(topic, onNudge);
    const onStop = () => nudged.abort();
    signal.addEventListener('abort', onStop, { once: true });
    try {
      await sleep(ms, nudged.signal);
    } finally {
      this.events.off(topic, onNudge);
      signal.removeEventListener('abort', onStop);
    }
  }
}

/** Everything a component of a running site needs, built once by the server. */
export interface SiteContext {
  paths: DataPaths;
  config: SiteConfig;
  db: Kysely<Database>;
  store: ContentStore;
  keys: SiteKeys;
  clock: Clock;
  log: Loggers;
  settings: ServerSettings;
  wake: Wake;
  metrics: Metrics;
  /** This site as the sender of site-to-site requests. */
  identity: Sender;
  /** Where this site's reports go (its parent's outbox), if it has a parent. */
  sink: ReportSink;
  /** Transfers in flight, so a cancel in the database stops their bytes at once. */
  transfers: TransferRegistry;
  /** Asks the server to stop and remove its install (the parent deleted this site). */
  deinstall(): void;
}

/**
 * Runs `tick` until `signal` aborts: after each tick it waits `intervalMs` or until nudged.
 * A failing tick is logged and retried on the next round; it never stops the loop.
 */
export async function runLoop(
  ctx: Pick<SiteContext, 'log' | 'wake'>,
  component: Component,
  topic: WakeTopic,
  intervalMs: number,
  signal: AbortSignal,
  tick: () => Promise<void>,
): Promise<void> {
  const log: Logger = ctx.log(component);
  while (!signal.aborted) {
    try {
      await tick();
    } catch (err) {
      if (!signal.aborted) log.error({ err }, `${component} round failed: ${(err as Error).message}`);
    }
    await ctx.wake.wait(topic, intervalMs, signal);
  }
}
