import type { Kysely } from 'kysely';
import type { Database } from '../db/index.js';
import { type Sender, s2sJson } from '../s2s/index.js';
import { acknowledgeReports, pendingReports } from './store.js';

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
    await s2sJson(ctx.identity, parent.url, 'POST', '/s2s/v1/reports', { reports });
    await acknowledgeReports(ctx.db, upTo);
    forwarded += reports.length;
  }
}
