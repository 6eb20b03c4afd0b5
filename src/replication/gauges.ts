import type { SiteContext } from '../core/index.js';
import { SITE_STATES } from '../db/index.js';
import { collectJobMetrics, JOB_STATES, OPEN_STATES } from '../jobs/index.js';

type Needs = Pick<SiteContext, 'clock' | 'db' | 'metrics'>;

/**
 * Sets the gauges that come from the database, for a scrape of `/metrics`: jobs by state overall
 * and per child, bytes queued per child, child sites' state and contact age, and packages by state
 * per DP. Every query is grouped (one row per child or DP and state, read from an index) or limited
 * to open jobs; the gauges are set only once all are read, so a scrape never sees them half set.
 */
export async function collectGauges(ctx: Needs): Promise<void> {
  const { db, metrics } = ctx;
  const [children, links, queued, byDp] = await Promise.all([
    db
      .selectFrom('sites')
      .select(['code', 'state', 'last_contact'])
      .where('relation', '=', 'child')
      .execute(),
    db
      .selectFrom('jobs')
      .select(['site_code', 'state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['site_code', 'state'])
      .execute(),
    queuedBytes(ctx),
    db
      .selectFrom('package_status')
      .select(['dp', 'state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['dp', 'state'])
      .execute(),
    collectJobMetrics(ctx),
  ]);
  const now = ctx.clock.now();

  metrics.siteState.reset();
  metrics.siteContactAge.reset();
  metrics.linkJobs.reset();
  metrics.linkQueuedBytes.reset();
  for (const child of children) {
    for (const state of SITE_STATES)
      metrics.siteState.set({ site: child.code, state }, state === child.state ? 1 : 0);
    if (child.last_contact !== null) {
      metrics.siteContactAge.set({ site: child.code }, Math.max(0, now - Number(child.last_contact)) / 1000);
    }
    // Every state of every link is a series, so an alert on `retrying > 0` sees the 0 too.
    for (const state of JOB_STATES) metrics.linkJobs.set({ site: child.code, state }, 0);
    metrics.linkQueuedBytes.set({ site: child.code }, queued.get(child.code) ?? 0);
  }
  const isChild = new Set(children.map((c) => c.code));
  for (const l of links) {
    if (isChild.has(l.site_code)) metrics.linkJobs.set({ site: l.site_code, state: l.state }, Number(l.n));
  }

  metrics.dpPackages.reset();
  for (const r of byDp) metrics.dpPackages.set({ dp: r.dp, state: r.state }, Number(r.n));
}

/**
 * Bytes still to send per child over its open package jobs. A job tried before knows what its
 * offer found missing and what it has sent of that; one never tried counts its package's whole
 * size, the most it can need (the child may hold some of it already).
 */
async function queuedBytes(ctx: Needs): Promise<Map<string, number>> {
  const open = await ctx.db
    .selectFrom('jobs')
    .select(['site_code', 'package_id', 'source_version', 'attempts', 'bytes_total', 'bytes_sent'])
    .where('state', 'in', OPEN_STATES)
    .where('kind', '=', 'package')
    .execute();
  const untried = [...new Set(open.filter((j) => Number(j.attempts) === 0).map((j) => j.package_id ?? ''))];
  const sizes = untried.length
    ? await ctx.db
        .selectFrom('package_files')
        .select(['package_id', 'source_version', (eb) => eb.fn.sum<number>('size').as('size')])
        .where('package_id', 'in', untried)
        .groupBy(['package_id', 'source_version'])
        .execute()
    : [];
  const sizeOf = new Map(sizes.map((s) => [`${s.package_id}@${s.source_version}`, Number(s.size)]));
  const queued = new Map<string, number>();
  for (const j of open) {
    const left =
      Number(j.attempts) === 0
        ? (sizeOf.get(`${j.package_id}@${j.source_version}`) ?? 0)
        : Math.max(0, Number(j.bytes_total) - Number(j.bytes_sent));
    queued.set(j.site_code, (queued.get(j.site_code) ?? 0) + left);
  }
  return queued;
}
