import type { SiteContext } from '../core/index.js';
import { postMessage } from '../status/index.js';
import { deleteJobs } from './lifecycle.js';

/**
 * `job delete`: removes the jobs to `site` (or one of them), stops their transfers in flight and
 * leaves a status message saying so.
 */
export async function removeJobs(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'sink' | 'transfers'>,
  where: { site: string; job?: string },
): Promise<{ site: string; removed: string[] }> {
  const removed = await deleteJobs(ctx.db, where);
  await ctx.transfers.abortJobs(removed, 'deleted by job delete');
  if (removed.length) {
    await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
      severity: 'warning',
      component: 'scheduler',
      text: `${removed.length} jobs to ${where.site} deleted by an administrator`,
      subject: where.site,
    });
  }
  return { site: where.site, removed };
}
