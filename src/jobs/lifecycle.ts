import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, JobKind, JobState } from '../db/index.js';
import { type Job, OPEN_STATES } from './jobs.js';

/**
 * Every change of a job's state is one statement guarded by the state it leaves (and, while the job
 * runs, by the sender holding its lease), so a sender that lost its job to a cancel, a delete or a
 * reclaim changes nothing. Each takes the database or a transaction.
 */
type Db = Kysely<Database>;

const FAILED: JobState = 'failed';
const RETRYING: JobState = 'retrying';

/** A job to make: its child, kind, package version and the DPs it carries. */
export interface NewJob {
  site: string;
  kind: JobKind;
  package: string | null;
  subject?: string | null;
  sourceVersion: number | null;
  dps: string[];
}

/** The scheduler's one way of making a job: a row, pending, due now. */
export async function createJob(db: Db, job: NewJob, now: number): Promise<string> {
  const [id] = await createJobs(db, [job], now);
  return id;
}

/**
 * Makes many jobs with one insert per few hundred rows (a round that assigns a package to 500
 * children makes its 500 jobs in two statements). Returns their ids in the order given.
 */
export async function createJobs(db: Db, jobs: NewJob[], now: number): Promise<string[]> {
  const rows = jobs.map((job) => ({
    id: randomUUID(),
    site_code: job.site,
    kind: job.kind,
    package_id: job.package,
    source_version: job.sourceVersion,
    subject: job.subject ?? null,
    dps: JSON.stringify(job.dps),
    state: 'pending' as const,
    bytes_sent: 0,
    bytes_total: 0,
    attempts: 0,
    last_error: null,
    lease_owner: null,
    lease_expires_at: null,
    next_attempt_at: now,
    created_at: now,
    updated_at: now,
  }));
  // 17 columns a row: well under either database's limit on parameters per statement.
  for (let i = 0; i < rows.length; i += JOBS_PER_INSERT)
    await db
      .insertInto('jobs')
      .values(rows.slice(i, i + JOBS_PER_INSERT))
      .execute();
  return rows.map((r) => r.id);
}

const JOBS_PER_INSERT = 500;

/**
 * Takes a due job for `owner` and counts the attempt; undefined when another sender (or a cancel)
 * got there first. Counting here, not on failure, means an attempt cut short by a crash counts too.
 */
export async function claimJob(
  db: Db,
  id: string,
  owner: string,
  leaseMs: number,
  now: number,
): Promise<Job | undefined> {
  return db
    .updateTable('jobs')
    .set((eb) => ({
      state: 'active',
      attempts: eb('attempts', '+', 1),
      lease_owner: owner,
      lease_expires_at: now + leaseMs,
      started_at: now,
      bytes_sent: 0,
      updated_at: now,
    }))
    .where('id', '=', id)
    .where('state', 'in', ['pending', 'retrying'])
    .where('next_attempt_at', '<=', now)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Takes the next due job to `site` for `owner`, unless `concurrency` jobs to it are active already
 * (in any server process of the site). One transaction: with `rowLocks` (PostgreSQL, where several
 * processes may share the database) the link's address row is locked first, so claimers of one link
 * take turns and the count holds, and the job is picked `FOR UPDATE SKIP LOCKED`; SQLite has a single
 * writer. Undefined when there is nothing to take.
 */
export async function claimNext(
  db: Db,
  link: { site: string; concurrency: number },
  owner: string,
  leaseMs: number,
  now: number,
  rowLocks: boolean,
): Promise<Job | undefined> {
  return db.transaction().execute(async (trx) => {
    if (rowLocks)
      await trx
        .selectFrom('addresses')
        .select('site_code')
        .where('site_code', '=', link.site)
        .forUpdate()
        .execute();
    const { active } = await trx
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('active'))
      .where('site_code', '=', link.site)
      .where('state', '=', 'active')
      .executeTakeFirstOrThrow();
    if (Number(active) >= link.concurrency) return undefined;
    let next = trx
      .selectFrom('jobs')
      .select('id')
      .where('site_code', '=', link.site)
      .where('state', 'in', ['pending', 'retrying'])
      .where('next_attempt_at', '<=', now)
      .orderBy('created_at')
      .orderBy('id')
      .limit(1);
    if (rowLocks) next = next.forUpdate().skipLocked();
    const row = await next.executeTakeFirst();
    return row ? claimJob(trx, row.id, owner, leaseMs, now) : undefined;
  });
}

/** Whether `owner` still holds the job (it was not cancelled, deleted or reclaimed meanwhile). */
export async function holdsJob(db: Db, id: string, owner: string): Promise<boolean> {
  const row = await db
    .selectFrom('jobs')
    .select('id')
    .where('id', '=', id)
    .where('state', '=', 'active')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return row !== undefined;
}

/** Records bytes sent (and, when known, the total) and renews the lease; false when the job is no longer ours. */
export async function progressJob(
  db: Db,
  id: string,
  owner: string,
  progress: { sent: number; total?: number },
  leaseMs: number,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('jobs')
    .set({
      bytes_sent: progress.sent,
      ...(progress.total === undefined ? {} : { bytes_total: progress.total }),
      lease_expires_at: now + leaseMs,
      updated_at: now,
    })
    .where('id', '=', id)
    .where('state', '=', 'active')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Marks the job completed if `owner` still holds it. Returns the job as it now stands (its bytes
 * sent are the last attempt's), or undefined when it did not take effect: the caller's follow-up
 * writes belong in the same transaction and only when this took effect.
 */
export async function completeJob(db: Db, id: string, owner: string, now: number): Promise<Job | undefined> {
  return db
    .updateTable('jobs')
    .set({ state: 'completed', last_error: null, lease_owner: null, lease_expires_at: null, updated_at: now })
    .where('id', '=', id)
    .where('state', '=', 'active')
    .where('lease_owner', '=', owner)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Ends an attempt that went wrong: retrying after `retryDelayMs`, or failed when the error is
 * permanent or the attempts made exceed `retries` (the tries allowed after the first). Returns the
 * job as it now stands, or undefined when `owner` no longer held it.
 */
export async function failJob(
  db: Db,
  id: string,
  owner: string,
  failure: { error: string; permanent: boolean; retries: number; retryDelayMs: number },
  now: number,
): Promise<Job | undefined> {
  return db
    .updateTable('jobs')
    .set((eb) => ({
      state: failure.permanent
        ? FAILED
        : eb.case().when('attempts', '>', failure.retries).then(FAILED).else(RETRYING).end(),
      last_error: failure.error,
      lease_owner: null,
      lease_expires_at: null,
      next_attempt_at: now + failure.retryDelayMs,
      updated_at: now,
    }))
    .where('id', '=', id)
    .where('state', '=', 'active')
    .where('lease_owner', '=', owner)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Makes the jobs of `package` to `site` that wait to retry due now: a redistribute asks for the
 * package to be sent again, not after the retry delay.
 */
export async function retryJobsNow(
  db: Db,
  where: { site: string; package: string },
  now: number,
): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ next_attempt_at: now, updated_at: now })
    .where('site_code', '=', where.site)
    .where('package_id', '=', where.package)
    .where('state', '=', RETRYING)
    .where('next_attempt_at', '>', now)
    .execute();
}

/** Marks open jobs cancelled; returns their ids so running transfers can be aborted. */
export async function cancelJobs(
  db: Db,
  where: { site: string; package?: string },
  reason: string,
  now: number,
): Promise<string[]> {
  let q = db
    .updateTable('jobs')
    .set({
      state: 'cancelled',
      last_error: reason,
      lease_owner: null,
      lease_expires_at: null,
      updated_at: now,
    })
    .where('site_code', '=', where.site)
    .where('state', 'in', OPEN_STATES);
  if (where.package) q = q.where('package_id', '=', where.package);
  return (await q.returning('id').execute()).map((r) => r.id);
}

/**
 * `job delete`: removes jobs to `site` (one, or all) whatever their state, the Preinst /DELJOB of
 * SMS. Returns the ids removed; a second run removes nothing.
 */
export async function deleteJobs(db: Db, where: { site: string; job?: string }): Promise<string[]> {
  let q = db.deleteFrom('jobs').where('site_code', '=', where.site);
  if (where.job) q = q.where('id', '=', where.job);
  return (await q.returning('id').execute()).map((r) => r.id);
}

/**
 * Active jobs whose lease ran out (their sender died or hung) go back to retrying, or fail once
 * they have used the attempts their address allows, so a job whose sender keeps crashing ends
 * failed instead of looping. Returns the jobs it failed, for the caller to report.
 */
export async function reclaimExpired(db: Db, now: number): Promise<Job[]> {
  const expired = await db
    .selectFrom('jobs')
    .leftJoin('addresses', 'addresses.site_code', 'jobs.site_code')
    .select(['jobs.id', 'jobs.attempts', 'addresses.retries'])
    .where('jobs.state', '=', 'active')
    .where('jobs.lease_expires_at', '<', now)
    .execute();
  const failed: Job[] = [];
  for (const job of expired) {
    const retries = job.retries ?? 0;
    const final = job.attempts > retries;
    const row = await db
      .updateTable('jobs')
      .set({
        state: final ? FAILED : RETRYING,
        last_error: `sender stopped mid-job (attempt ${job.attempts} of ${retries + 1})`,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
      })
      .where('id', '=', job.id)
      .where('state', '=', 'active')
      .where('lease_expires_at', '<', now)
      .returningAll()
      .executeTakeFirst();
    if (row && final) failed.push(row);
  }
  return failed;
}
