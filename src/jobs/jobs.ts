import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, JobKind, JobState, JobsTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';

type Db = Kysely<Database>;

export const OPEN_STATES: JobState[] = ['pending', 'active', 'retrying'];
const JOB_STATES: JobState[] = ['pending', 'active', 'retrying', 'failed', 'completed', 'cancelled'];

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
  attempts: number;
  lastError: string | null;
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
}

export function jobView(r: Selectable<JobsTable>): JobView {
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

/**
 * `job delete`: removes jobs to `site` (one, or all) whatever their state, the Preinst /DELJOB of
 * SMS. Returns the ids removed; a second run removes nothing.
 */
export async function deleteJobs(db: Db, where: { site: string; job?: string }): Promise<string[]> {
  let q = db.selectFrom('jobs').select('id').where('site_code', '=', where.site);
  if (where.job) q = q.where('id', '=', where.job);
  const ids = (await q.execute()).map((r) => r.id);
  if (ids.length) await db.deleteFrom('jobs').where('id', 'in', ids).execute();
  return ids;
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

/** The scheduler's one way of making a job: a row, pending, due now. */
export async function createJob(
  db: Db,
  job: {
    site: string;
    kind: JobKind;
    package: string | null;
    subject?: string | null;
    sourceVersion: number | null;
    dps: string[];
  },
  now: number,
): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto('jobs')
    .values({
      id,
      site_code: job.site,
      kind: job.kind,
      package_id: job.package,
      source_version: job.sourceVersion,
      subject: job.subject ?? null,
      dps: JSON.stringify(job.dps),
      state: 'pending',
      bytes_sent: 0,
      bytes_total: 0,
      attempts: 0,
      last_error: null,
      lease_owner: null,
      lease_expires_at: null,
      next_attempt_at: now,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}

/** Marks open jobs cancelled; returns their ids so running transfers can be aborted. */
export async function cancelJobs(
  db: Db,
  where: { site: string; package?: string },
  reason: string,
  now: number,
): Promise<string[]> {
  let q = db
    .selectFrom('jobs')
    .select('id')
    .where('site_code', '=', where.site)
    .where('state', 'in', OPEN_STATES);
  if (where.package) q = q.where('package_id', '=', where.package);
  const ids = (await q.execute()).map((r) => r.id);
  if (ids.length) {
    await db
      .updateTable('jobs')
      .set({
        state: 'cancelled',
        last_error: reason,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
      })
      .where('id', 'in', ids)
      .execute();
  }
  return ids;
}

/** Takes a due job for this sender; false when another sender (or a cancel) got there first. */
export async function claimJob(
  db: Db,
  id: string,
  owner: string,
  leaseMs: number,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('jobs')
    .set({ state: 'active', lease_owner: owner, lease_expires_at: now + leaseMs, updated_at: now })
    .where('id', '=', id)
    .where('state', 'in', ['pending', 'retrying'])
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Active jobs whose sender died (lease ran out) go back to retrying. */
export async function reclaimExpired(db: Db, now: number): Promise<number> {
  const result = await db
    .updateTable('jobs')
    .set({ state: 'retrying', lease_owner: null, lease_expires_at: null, updated_at: now })
    .where('state', '=', 'active')
    .where('lease_expires_at', '<', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
