import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/index.js';
import { jobView, OPEN_STATES } from '../jobs/index.js';
import { countPackageStatus, PACKAGE_STATES, type PackageState } from '../status/index.js';
import { type SiteView, siteRecordOf } from './records.js';

type Db = Kysely<Database>;

/** What is waiting on this site's link to a child: open jobs, bytes still to send, the rate now. */
export interface Backlog {
  jobs: number;
  bytes: number;
  /** Bytes a second over the active transfers to the site; null when none is running. */
  rate: number | null;
}

/** One row of `status summary --json`: a site, its packages by state across its DPs, its backlog. */
export interface SiteSummary extends SiteView {
  packages: Record<PackageState, number>;
  backlog: Backlog;
}

/**
 * Every site of this site's subtree (itself included, its parent not) with its DPs' package
 * counts by state and the backlog of jobs toward it. A backlog is kept by a site's parent, so here
 * only the children have one. Three grouped reads whatever the hierarchy's size: the counts come
 * from the counters kept with package status, the backlog from open jobs only.
 */
export async function summarizeSites(db: Db): Promise<SiteSummary[]> {
  const [sites, counts, queued, active] = await Promise.all([
    db.selectFrom('sites').selectAll().where('relation', '!=', 'parent').orderBy('code').execute(),
    countPackageStatus(db),
    queuedToward(db),
    db.selectFrom('jobs').selectAll().where('state', '=', 'active').execute(),
  ]);
  const rates = new Map<string, number>();
  for (const job of active) {
    const rate = jobView(job).rate;
    if (rate !== null) rates.set(job.site_code, (rates.get(job.site_code) ?? 0) + rate);
  }
  return sites.map((row) => {
    const held = counts.get(row.code);
    const q = queued.get(row.code);
    return {
      ...siteRecordOf(row),
      relation: row.relation,
      packages: Object.fromEntries(PACKAGE_STATES.map((s) => [s, held?.get(s) ?? 0])) as Record<
        PackageState,
        number
      >,
      backlog: { jobs: q?.jobs ?? 0, bytes: q?.bytes ?? 0, rate: rates.get(row.code) ?? null },
    };
  });
}

/**
 * Open jobs and the bytes they still have to send, per site. As `outpost_link_queued_bytes`: a job
 * tried before counts what its offer found missing less what was sent; one never tried counts its
 * package's whole size, the most it can need.
 */
async function queuedToward(db: Db): Promise<Map<string, { jobs: number; bytes: number }>> {
  const rows = await db
    .selectFrom('jobs as j')
    .select([
      'j.site_code',
      (eb) => eb.fn.countAll<number>().as('jobs'),
      sql<number>`sum(case
        when j.kind <> 'package' then 0
        when j.attempts = 0 then coalesce((select sum(f.size) from package_files f
          where f.package_id = j.package_id and f.source_version = j.source_version), 0)
        when j.bytes_total > j.bytes_sent then j.bytes_total - j.bytes_sent
        else 0 end)`.as('bytes'),
    ])
    .where('j.state', 'in', OPEN_STATES)
    .groupBy('j.site_code')
    .execute();
  return new Map(rows.map((r) => [r.site_code, { jobs: Number(r.jobs), bytes: Number(r.bytes) }]));
}
