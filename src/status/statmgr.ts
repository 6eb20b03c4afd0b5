import type { Kysely } from 'kysely';
import type { Clock } from '../common/index.js';
import type { Database } from '../db/index.js';
import type { Loggers } from '../logs/index.js';
import { isReport, S2S, type Sender, s2sJson } from '../s2s/index.js';
import { acknowledgeReports, applyReports, pendingReports, postMessage, type ReportSink } from './store.js';

const BATCH = 500;

/**
 * statmgr: forwards this site's outbox to the parent in order. A report leaves the outbox only
 * after the parent has applied it, and the parent applies each once, so a lost connection delays
 * status but never loses or doubles it.
 */
export async function forwardReports(ctx: {
  db: Kysely<Database>;
  identity: Sender;
  config: { parent: { url: string } | null };
}): Promise<number> {
  const parent = ctx.config.parent;
  if (!parent) return 0;
  let forwarded = 0;
  for (;;) {
    const { upTo, reports } = await pendingReports(ctx.db, BATCH);
    if (reports.length === 0) return forwarded;
    await s2sJson(ctx.identity, parent.url, 'POST', S2S.reports, { reports });
    await acknowledgeReports(ctx.db, upTo);
    forwarded += reports.length;
  }
}

/** How many sites a warning about dropped reports names before it says how many more. */
const NAMED = 10;

/** Why reports from a child were dropped (the `reason` label of the dropped-reports metric). */
type DropReason = 'malformed' | 'outside-subtree';

function sitesNamed(codes: readonly string[]): string {
  const distinct = [...new Set(codes)];
  const more = distinct.length - NAMED;
  return distinct.slice(0, NAMED).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

/**
 * statmgr, at the parent: applies a batch of reports from `child` and wakes the forwarder when
 * something new is to go on up. Each report is checked on its own: one this site cannot read, or
 * one about a site outside the child's subtree, is dropped (one warning a batch for each reason,
 * and counted), rather than refusing the batch and leaving the child's outbox stuck behind it for
 * ever.
 */
export async function acceptReports(
  ctx: {
    db: Kysely<Database>;
    sink: ReportSink;
    clock: Clock;
    log: Loggers;
    wake: { notify(topic: 'statmgr'): void };
    metrics: { reportsDropped: { inc(labels: { child: string; reason: DropReason }, value: number): void } };
  },
  child: string,
  batch: readonly unknown[],
): Promise<{ applied: number; dropped: number }> {
  const reports = batch.filter(isReport);
  const malformed = batch.length - reports.length;
  const warn = (trx: Kysely<Database>, text: string) =>
    postMessage(trx, ctx.sink, ctx.clock.now(), {
      severity: 'warning',
      component: 'statmgr',
      text,
      subject: child,
    });
  const { applied, outside } = await ctx.db.transaction().execute(async (trx) => {
    if (malformed > 0) await warn(trx, `dropped ${malformed} malformed status reports from ${child}`);
    const result = await applyReports(trx, ctx.sink, child, reports, ctx.clock.now());
    if (result.outside.length > 0) {
      await warn(
        trx,
        `dropped ${result.outside.length} status reports from ${child} about sites outside its subtree: ${sitesNamed(result.outside)}`,
      );
    }
    return result;
  });
  const log = ctx.log('statmgr');
  if (malformed > 0) {
    ctx.metrics.reportsDropped.inc({ child, reason: 'malformed' }, malformed);
    log.warn({ peer: child, dropped: malformed }, 'dropped malformed status reports');
  }
  if (outside.length > 0) {
    ctx.metrics.reportsDropped.inc({ child, reason: 'outside-subtree' }, outside.length);
    log.warn(
      { peer: child, dropped: outside.length, sites: sitesNamed(outside) },
      "dropped status reports about sites outside the child's subtree",
    );
  }
  if (applied > 0) ctx.wake.notify('statmgr');
  return { applied, dropped: malformed + outside.length };
}
