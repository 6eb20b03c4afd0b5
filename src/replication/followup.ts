import type { SiteContext } from '../core/index.js';
import { nextHop } from '../sites/index.js';
import { listPackageStatus, type PackageStatus } from '../status/index.js';
import { type ListedJob, listJobsWithReasons } from './waiting.js';

/** A package not Installed at a DP, with why (`status packages --not-installed`). */
export type NotInstalled = PackageStatus & {
  /** What it waits on, or what went wrong, in a few words. */
  reason: string;
  /** The last error its status or the job toward it reported, if any. */
  lastError: string | null;
  /** The job from this site toward that DP the reason comes from, if any. */
  job: string | null;
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The follow-up report: every (package, DP) at or below this site that is not Installed — with a
 * status other than Installed, or assigned here with no status at all (missing) — and its reason,
 * taken from the newest job from this site toward the DP's site.
 */
export async function listNotInstalled(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db'>,
  f: { site?: string; package?: string },
): Promise<NotInstalled[]> {
  const self = ctx.config.code;
  const rows = await listPackageStatus(ctx.db, { ...f, notInstalled: true });
  const withStatus = new Set((await listPackageStatus(ctx.db, f)).map((r) => `${r.package} ${r.dp}`));
  let assigned = ctx.db
    .selectFrom('assignments')
    .innerJoin('packages', 'packages.id', 'assignments.package_id')
    .select(['assignments.package_id', 'assignments.dp', 'assignments.site_code', 'packages.source_version']);
  if (f.site) assigned = assigned.where('assignments.site_code', '=', f.site);
  if (f.package) assigned = assigned.where('assignments.package_id', '=', f.package);
  for (const a of await assigned.execute()) {
    if (withStatus.has(`${a.package_id} ${a.dp}`)) continue;
    rows.push({
      package: a.package_id,
      sourceVersion: a.source_version,
      site: a.site_code,
      dp: a.dp,
      state: 'Install Pending',
      error: null,
      updatedAt: 0,
    });
  }
  const jobs = await listJobsWithReasons(ctx, { package: f.package });
  const hops = new Map<string, string | null>();
  const out: NotInstalled[] = [];
  for (const row of rows) {
    if (!hops.has(row.site))
      hops.set(row.site, row.site === self ? null : await nextHop(ctx.db, self, row.site));
    const hop = hops.get(row.site) ?? null;
    // The newest job toward the DP's next hop that carried this package (jobs are oldest first).
    const job = hop
      ? jobs.findLast((j) => j.site === hop && j.package === row.package && j.kind === 'package')
      : undefined;
    out.push({
      ...row,
      reason: reasonFor(row, hop, job, row.updatedAt === 0),
      lastError: row.error ?? job?.lastError ?? null,
      job: job?.id ?? null,
    });
  }
  return out.sort((a, b) => a.package.localeCompare(b.package) || a.dp.localeCompare(b.dp));
}

function reasonFor(
  row: PackageStatus,
  hop: string | null,
  job: ListedJob | undefined,
  missing: boolean,
): string {
  if (missing) return 'assigned, but no status has been reported for it';
  if (row.state.startsWith('Removal')) return `${row.state.toLowerCase()} at ${row.site}`;
  if (hop === null)
    return row.state === 'Install Failed'
      ? 'the DP here failed to verify it'
      : 'being installed on the DP here';
  if (!job)
    return row.state === 'Install Failed' ? `failed at or below ${hop}` : `waiting for ${hop} to send it on`;
  const tried = plural(job.attempts, 'attempt');
  switch (job.state) {
    case 'failed':
      return `job to ${hop} failed after ${tried}; dp redistribute sends it again`;
    case 'retrying':
      return `job to ${hop} retrying after ${tried}${job.waiting ? `: ${job.waiting}` : ''}`;
    case 'pending':
      return `job to ${hop} waiting${job.waiting ? `: ${job.waiting}` : ' to start'}`;
    case 'active':
      return `job to ${hop} sending (${job.bytesSent} of ${job.bytesTotal} bytes)`;
    case 'completed':
      return row.site === hop
        ? `sent to ${hop}; installing there`
        : `sent to ${hop}; on its way to ${row.site}`;
    default:
      return `job to ${hop} ${job.state}`;
  }
}
