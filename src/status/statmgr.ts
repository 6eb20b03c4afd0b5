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

/**
 * statmgr, at the parent: applies a batch of reports from `child` and wakes the forwarder when
 * something new is to go on up. Each report is checked on its own: one this site cannot read is
 * dropped with a warning, rather than refusing the batch and leaving the child's outbox stuck
 * behind it for ever.
 */
export async function acceptReports(
  ctx: {
    db: Kysely<Database>;
    sink: ReportSink;
    clock: Clock;
    log: Loggers;
    wake: { notify(topic: 'statmgr'): void };
  },
  child: string,
  batch: readonly unknown[],
): Promise<{ applied: number; dropped: number }> {
  const reports = batch.filter(isReport);
  const dropped = batch.length - reports.length;
  const applied = await ctx.db.transaction().execute(async (trx) => {
    if (dropped > 0) {
      await postMessage(trx, ctx.sink, ctx.clock.now(), {
        severity: 'warning',
        component: 'statmgr',
        text: `dropped ${dropped} malformed status reports from ${child}`,
        subject: child,
      });
    }
    return applyReports(trx, ctx.sink, reports, ctx.clock.now());
  });
  if (dropped > 0) ctx.log('statmgr').warn({ from: child, dropped }, 'dropped malformed status reports');
  if (applied > 0) ctx.wake.notify('statmgr');
  return { applied, dropped };
}
