import type { Kysely, Selectable } from 'kysely';
import type { SiteContext } from '../core/index.js';
import type { Database, JobKind, JobState, JobsTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';

type Db = Kysely<Database>;

export const OPEN_STATES: JobState[] = ['pending', 'active', 'retrying'];
export const JOB_STATES: JobState[] = ['pending', 'active', 'retrying', 'failed', 'completed', 'cancelled'];

/** A job as `job list --json` shows it. */
export interface JobView {
  id: string;
  site: string;
  kind: JobKind;
  package: string | null;
  /** For a purge job: the site to purge. */
  subject: string | null;
  sourceVersion: number | null;
  dps: string[];
  state: JobState;
  bytesSent: number;
  bytesTotal: number;
  /** While active: bytes a second over the attempt so far (null until something was sent). */
  rate: number | null;
  /** While active: seconds left at that rate (null when the rate or the total is not known yet). */
  etaSeconds: number | null;
  /** When the current (or last) attempt started. */
  startedAt: number | null;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
}

export function jobView(r: Selectable<JobsTable>): JobView {
  // Progress reaches the row about once a second, so the rate is the attempt's average up to then.
  const elapsed = r.started_at === null ? 0 : r.updated_at - r.started_at;
  const rate =
    r.state === 'active' && elapsed > 0 && r.bytes_sent > 0
      ? Math.round((r.bytes_sent * 1000) / elapsed)
      : null;
  const left = r.bytes_total - r.bytes_sent;
  return {
    id: r.id,
    site: r.site_code,
    kind: r.kind,
    package: r.package_id,
    subject: r.subject,
    sourceVersion: r.source_version,
    dps: JSON.parse(r.dps) as string[],
    state: r.state,
    bytesSent: r.bytes_sent,
    bytesTotal: r.bytes_total,
    rate,
    etaSeconds: rate && r.bytes_total > 0 && left >= 0 ? Math.ceil(left / rate) : null,
    startedAt: r.started_at,
    attempts: r.attempts,
    lastError: r.last_error,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function assertJobState(state: string): JobState {
  if (!(JOB_STATES as string[]).includes(state)) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `job state '${state}' is not valid`, {
      hint: `one of ${JOB_STATES.join(', ')}`,
    });
  }
  return state as JobState;
}

export async function listJobs(
  db: Db,
  f: { site?: string; state?: JobState; package?: string },
): Promise<JobView[]> {
  let q = db.selectFrom('jobs').selectAll();
  if (f.site) q = q.where('site_code', '=', f.site);
  if (f.state) q = q.where('state', '=', f.state);
  if (f.package) q = q.where('package_id', '=', f.package);
  return (await q.orderBy('created_at').orderBy('id').execute()).map(jobView);
}

/** Sets the jobs gauge to the number of jobs in each state now, for a scrape of `/metrics`. */
export async function collectJobMetrics(ctx: Pick<SiteContext, 'db' | 'metrics'>): Promise<void> {
  const jobs = await ctx.db
    .selectFrom('jobs')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute();
  ctx.metrics.jobs.reset();
  for (const j of jobs) ctx.metrics.jobs.set({ state: j.state }, Number(j.n));
}

/** A job row as stored. */
export type Job = Selectable<JobsTable>;
