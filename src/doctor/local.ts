import { statfs } from 'node:fs/promises';
import { formatBytes } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { OPEN_STATES } from '../jobs/index.js';
import { DEFAULT_RESERVE_BYTES } from '../sites/index.js';
import { check, type DoctorCheck, stuckJobs } from './model.js';

/** A sender that stopped has its jobs taken back within a round; a lease expired longer ago than this is held by no one. */
const LEASE_GRACE_MS = 60_000;

/**
 * Free space on the data directory's filesystem against the content assigned to this site's DPs and
 * not Installed yet (what is still to arrive) plus the reserve preflight keeps.
 */
export async function diskCheck(ctx: Pick<SiteContext, 'config' | 'db' | 'paths'>): Promise<DoctorCheck> {
  const self = ctx.config.code;
  const pending = await ctx.db
    .selectFrom('assignments')
    .innerJoin('packages', 'packages.id', 'assignments.package_id')
    .innerJoin('package_files', (j) =>
      j
        .onRef('package_files.package_id', '=', 'packages.id')
        .onRef('package_files.source_version', '=', 'packages.source_version'),
    )
    .leftJoin('package_status', (j) =>
      j
        .onRef('package_status.package_id', '=', 'assignments.package_id')
        .onRef('package_status.dp', '=', 'assignments.dp'),
    )
    .select((eb) => eb.fn.sum<number | string | null>('package_files.size').as('bytes'))
    .where('assignments.site_code', '=', self)
    .where((eb) =>
      eb.or([eb('package_status.state', 'is', null), eb('package_status.state', '!=', 'Installed')]),
    )
    .executeTakeFirst();
  const outstanding = Number(pending?.bytes ?? 0);
  const fs = await statfs(ctx.paths.root);
  const free = fs.bavail * fs.bsize;
  const detail = `${formatBytes(free)} free at ${ctx.paths.root}; ${formatBytes(outstanding)} assigned content still to arrive + ${formatBytes(DEFAULT_RESERVE_BYTES)} reserve`;
  const hint = `free space on the filesystem of ${ctx.paths.root}, or move the data directory to a larger one`;
  if (free < outstanding) return check('disk', self, 'fail', detail, hint);
  return check('disk', self, free < outstanding + DEFAULT_RESERVE_BYTES ? 'warn' : 'ok', detail, hint);
}

/** Open jobs of this site that will not move on by themselves (see {@link stuckJobs}). */
export async function jobsCheck(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'settings'>,
): Promise<DoctorCheck[]> {
  const self = ctx.config.code;
  const rows = await ctx.db
    .selectFrom('jobs')
    .leftJoin('addresses', 'addresses.site_code', 'jobs.site_code')
    .select([
      'jobs.id',
      'jobs.site_code',
      'jobs.state',
      'jobs.attempts',
      'jobs.lease_expires_at',
      'jobs.updated_at',
      'addresses.retries',
    ])
    .where('jobs.state', 'in', OPEN_STATES)
    .execute();
  const stuck = stuckJobs(
    rows.map((r) => ({
      id: r.id,
      site: r.site_code,
      state: r.state,
      attempts: r.attempts,
      retries: r.retries,
      leaseExpiresAt: r.lease_expires_at,
      updatedAt: r.updated_at,
    })),
    ctx.clock.now(),
    Math.max(LEASE_GRACE_MS, 2 * ctx.settings.leaseMs),
  );
  if (stuck.length === 0) return [check('jobs', self, 'ok', `${rows.length} open jobs, none stuck`)];
  return stuck.map(({ job, reason }) =>
    check(
      'jobs',
      `job ${job.id.slice(0, 8)} to ${job.site}`,
      'fail',
      reason,
      `outpost job list --site ${job.site} shows it; outpost job delete --site ${job.site} --job ${job.id.slice(0, 8)} removes it (distmgr makes a new one if still needed)`,
    ),
  );
}
