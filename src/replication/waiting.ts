import type { SiteContext } from '../core/index.js';
import type { JobState, SiteState } from '../db/index.js';
import { type JobView, listJobs } from '../jobs/index.js';
import { isHeld } from './addresses.js';
import { inSchedule, parseSchedule } from './throttle.js';

/** A job as `job list` shows it: with why it waits, when it could run but does not. */
export type ListedJob = JobView & { waiting: string | null };

/** What the sender weighs before it starts a job to one child. */
export interface LinkNow {
  siteState: SiteState;
  schedule: string | null;
  concurrency: number;
  /** Jobs to that child running now. */
  active: number;
  /** Content is held for a new host of the site until a rebuild releases it (after its preload). */
  held?: boolean;
}

const hhmm = (hour: number) => `${String(hour % 24).padStart(2, '0')}:00`;
/** Local time of day, as the schedule's hours are local. */
const clockTime = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

/**
 * Why a pending or retrying job is not running at `now`, in the sender's own terms (see
 * JobSender.tick): its retry delay, the site's state, the address's schedule and concurrency.
 * Null when nothing holds it back (the sender starts it on its next round).
 */
export function waitingReason(
  job: Pick<JobView, 'state' | 'nextAttemptAt'>,
  link: LinkNow | undefined,
  now: number,
): string | null {
  if (job.state !== 'pending' && job.state !== 'retrying') return null;
  if (!link) return 'no address to the site';
  const reasons: string[] = [];
  if (job.nextAttemptAt > now) reasons.push(`retry at ${clockTime(job.nextAttemptAt)}`);
  if (link.siteState !== 'active') reasons.push(`site ${link.siteState}`);
  if (!inSchedule(link.schedule, now) && link.schedule)
    reasons.push(`schedule ${link.schedule}, next window ${hhmm(parseSchedule(link.schedule).from)}`);
  if (link.active >= link.concurrency) reasons.push(`concurrency ${link.concurrency} in use`);
  if (link.held) reasons.push('held for the new host until its preload (outpost rebuild status)');
  return reasons.length ? reasons.join('; ') : null;
}

/** `job list`: the jobs, each waiting one saying why. */
export async function listJobsWithReasons(
  ctx: Pick<SiteContext, 'clock' | 'db'>,
  f: { site?: string; state?: JobState; package?: string },
): Promise<ListedJob[]> {
  const jobs = await listJobs(ctx.db, f);
  const now = ctx.clock.now();
  const sites = [...new Set(jobs.filter((j) => waitingReason(j, undefined, now)).map((j) => j.site))];
  const links = new Map<string, LinkNow>();
  if (sites.length) {
    const rows = await ctx.db
      .selectFrom('addresses')
      .innerJoin('sites', 'sites.code', 'addresses.site_code')
      .select([
        'addresses.site_code',
        'addresses.schedule',
        'addresses.concurrency',
        'addresses.hold_generation',
        'sites.state',
        'sites.generation',
      ])
      .where('addresses.site_code', 'in', sites)
      .execute();
    const active = await ctx.db
      .selectFrom('jobs')
      .select(['site_code', (eb) => eb.fn.countAll<number>().as('n')])
      .where('state', '=', 'active')
      .where('site_code', 'in', sites)
      .groupBy('site_code')
      .execute();
    for (const r of rows)
      links.set(r.site_code, {
        siteState: r.state,
        schedule: r.schedule,
        concurrency: r.concurrency,
        active: Number(active.find((a) => a.site_code === r.site_code)?.n ?? 0),
        held: isHeld(r.hold_generation, r.generation),
      });
  }
  return jobs.map((j) => ({ ...j, waiting: waitingReason(j, links.get(j.site), now) }));
}
