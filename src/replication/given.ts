import type { SiteContext } from '../core/index.js';
import { retryJobsNow } from '../jobs/index.js';
import { nextHop } from '../sites/index.js';
import { type ReportSink, setPackageStatus } from '../status/index.js';

type Db = SiteContext['db'];

/**
 * Forgets what `child` was given of `pkg` and the jobs to it that gave up, so the scheduler starts
 * afresh: after a redistribute, or once the child has confirmed an unassign.
 */
export async function forgetGiven(db: Db, child: string, pkg: string): Promise<void> {
  await db
    .deleteFrom('jobs')
    .where('site_code', '=', child)
    .where('package_id', '=', pkg)
    .where('state', '=', 'failed')
    .execute();
  await db.deleteFrom('deliveries').where('site_code', '=', child).where('package_id', '=', pkg).execute();
}

/**
 * A redistribute toward `child`: what it was given and the jobs that gave up are forgotten, so
 * distmgr makes the job again, and a job that waits to retry is due at once.
 */
export async function sendAgain(db: Db, child: string, pkg: string, now: number): Promise<void> {
  await forgetGiven(db, child, pkg);
  await retryJobsNow(db, { site: child, package: pkg }, now);
}

/**
 * `child` confirmed that nothing of `pkg` ever completed there, so no removal will be reported from
 * below: the statuses this site keeps for unassigned DPs at or below the child (Install Failed,
 * Removal Pending) are Removed here, and upwards through the outbox.
 */
export async function clearStatusesBelow(
  db: Db,
  sink: ReportSink,
  child: string,
  pkg: string,
  now: number,
): Promise<void> {
  const rows = await db
    .selectFrom('package_status')
    .leftJoin('assignments', (join) =>
      join
        .onRef('assignments.package_id', '=', 'package_status.package_id')
        .onRef('assignments.dp', '=', 'package_status.dp'),
    )
    .select(['package_status.dp', 'package_status.site_code', 'package_status.source_version'])
    .where('package_status.package_id', '=', pkg)
    .where('assignments.dp', 'is', null)
    .execute();
  for (const row of rows) {
    if (row.site_code !== child && (await nextHop(db, sink.site, row.site_code)) !== child) continue;
    await setPackageStatus(db, sink, {
      package: pkg,
      sourceVersion: row.source_version,
      site: row.site_code,
      dp: row.dp,
      state: 'Removed',
      error: null,
      updatedAt: now,
    });
  }
}
