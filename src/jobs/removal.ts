import { assertIdPrefix, oneMatch } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { postMessage } from '../status/index.js';
import { deleteJobs } from './lifecycle.js';

/** The job to `site` whose id starts with `prefix`; none or several is an error. */
async function resolveJobId(db: SiteContext['db'], prefix: string, site: string): Promise<string> {
  const p = assertIdPrefix(prefix, 'job');
  const rows = await db
    .selectFrom('jobs')
    .select('id')
    .where('site_code', '=', site)
    .where('id', 'like', `${p}%`)
    .limit(10)
    .execute();
  return oneMatch(
    p,
    rows.map((r) => r.id),
    'job',
    ` to ${site}`,
  );
}

/**
 * `job delete`: removes the jobs to `site` (or one of them, by its id or the start of it), stops
 * their transfers in flight and leaves a status message saying so. With `dryRun` it removes
 * nothing and names the jobs it would remove.
 */
export async function removeJobs(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'sink' | 'transfers'>,
  where: { site: string; job?: string; dryRun?: boolean },
): Promise<{ site: string; dryRun: boolean; removed: string[] }> {
  const job = where.job === undefined ? undefined : await resolveJobId(ctx.db, where.job, where.site);
  if (where.dryRun) {
    let q = ctx.db.selectFrom('jobs').select('id').where('site_code', '=', where.site);
    if (job) q = q.where('id', '=', job);
    return { site: where.site, dryRun: true, removed: (await q.execute()).map((r) => r.id) };
  }
  const removed = await deleteJobs(ctx.db, { site: where.site, job });
  await ctx.transfers.abortJobs(removed, 'deleted by job delete');
  if (removed.length) {
    await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
      severity: 'warning',
      component: 'scheduler',
      text: `${removed.length} jobs to ${where.site} deleted by an administrator`,
      subject: where.site,
    });
  }
  return { site: where.site, dryRun: false, removed };
}
