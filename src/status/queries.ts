import { type Kysely, sql } from 'kysely';
import { assertIdPrefix, oneMatch } from '../common/index.js';
import type { Database } from '../db/index.js';
import {
  type PackageState,
  type PackageStatus,
  SEVERITIES,
  type Severity,
  type StatusMessage,
} from './model.js';

type Db = Kysely<Database>;

export interface MessageFilter {
  /** Messages this site reported or that are about it. */
  site?: string;
  component?: string;
  /** Messages of this severity or a worse one. */
  severity?: Severity;
  package?: string;
  job?: string;
  since?: number;
  /** Only messages stored after this sequence number (for --follow). */
  after?: number;
  limit?: number;
}

/** The job whose id starts with `prefix`, among the jobs messages are about. */
async function resolveMessageJob(db: Db, prefix: string): Promise<string> {
  const p = assertIdPrefix(prefix, 'job');
  const rows = await db
    .selectFrom('status_messages')
    .select('job_id')
    .distinct()
    .where('job_id', 'like', `${p}%`)
    .limit(10)
    .execute();
  return oneMatch(
    p,
    rows.flatMap((r) => (r.job_id ? [r.job_id] : [])),
    'job',
    ' that status messages are about',
  );
}

/** Status messages, oldest first, each with the local sequence number to follow from. */
export async function listMessages(db: Db, f: MessageFilter): Promise<(StatusMessage & { seq: number })[]> {
  let q = db.selectFrom('status_messages').selectAll();
  const site = f.site;
  if (site) q = q.where((eb) => eb.or([eb('site_code', '=', site), eb('subject_site', '=', site)]));
  if (f.component) q = q.where('component', '=', f.component);
  if (f.severity) q = q.where('severity', 'in', SEVERITIES.slice(SEVERITIES.indexOf(f.severity)));
  if (f.package) q = q.where('package_id', '=', f.package);
  if (f.job) q = q.where('job_id', '=', await resolveMessageJob(db, f.job));
  if (f.since !== undefined) q = q.where('time', '>=', f.since);
  if (f.after !== undefined) q = q.where('seq', '>', f.after);
  const limit = f.limit ?? 1000;
  // The newest `limit`, returned oldest first.
  const rows = await q.orderBy('seq', 'desc').limit(limit).execute();
  return rows.reverse().map((r) => ({
    seq: r.seq,
    id: r.id,
    severity: r.severity,
    component: r.component,
    site: r.site_code,
    text: r.text,
    package: r.package_id,
    job: r.job_id,
    subject: r.subject_site,
    time: r.time,
  }));
}

export interface PackageStatusFilter {
  site?: string;
  package?: string;
  notInstalled?: boolean;
}

/** Package status per (package, DP). */
export async function listPackageStatus(db: Db, f: PackageStatusFilter): Promise<PackageStatus[]> {
  let q = db.selectFrom('package_status').selectAll();
  if (f.site) q = q.where('site_code', '=', f.site);
  if (f.package) q = q.where('package_id', '=', f.package);
  if (f.notInstalled) q = q.where('state', '!=', 'Installed');
  const rows = await q.orderBy('package_id').orderBy('dp').execute();
  return rows.map((r) => ({
    package: r.package_id,
    sourceVersion: r.source_version,
    site: r.site_code,
    dp: r.dp,
    state: r.state as PackageState,
    error: r.error,
    updatedAt: r.updated_at,
  }));
}

/**
 * Package statuses per site and state, read from the counters the database keeps with them
 * (migration 0022). On PostgreSQL these are a row per change until folded (see
 * foldPackageStatusCounts): a read that finds more than `foldAbove` rows beyond one per (site,
 * state) folds them. SQLite keeps one row per (site, state), so it never gets there.
 */
export async function countPackageStatus(
  db: Db,
  foldAbove = 1000,
): Promise<Map<string, Map<PackageState, number>>> {
  const rows = await db
    .selectFrom('package_status_counts')
    .select([
      'site_code',
      'state',
      (eb) => eb.fn.sum<number>('n').as('n'),
      (eb) => eb.fn.countAll<number>().as('pieces'),
    ])
    .groupBy(['site_code', 'state'])
    .execute();
  const pieces = rows.reduce((sum, r) => sum + Number(r.pieces), 0);
  if (pieces - rows.length > foldAbove) await foldCounts(db);
  const bySite = new Map<string, Map<PackageState, number>>();
  for (const r of rows) {
    if (Number(r.n) <= 0) continue;
    const counts = bySite.get(r.site_code) ?? new Map<PackageState, number>();
    counts.set(r.state as PackageState, Number(r.n));
    bySite.set(r.site_code, counts);
  }
  return bySite;
}

/**
 * Folds the counter rows of package status into one per (site, state) once there are more than
 * `foldAbove` beyond that; returns whether it folded. On PostgreSQL every status change inserts a
 * row (so two writers never wait for each other): the server calls this every minute, so a site
 * whose summary nobody reads does not grow a row per change for ever.
 */
export async function foldPackageStatusCounts(db: Db, foldAbove = 1000): Promise<boolean> {
  const { pieces, groups } = await db
    .selectFrom(
      db
        .selectFrom('package_status_counts')
        .select((eb) => eb.fn.countAll<number>().as('pieces'))
        .groupBy(['site_code', 'state'])
        .as('g'),
    )
    .select([
      (eb) => eb.fn.sum<number>('g.pieces').as('pieces'),
      (eb) => eb.fn.countAll<number>().as('groups'),
    ])
    .executeTakeFirstOrThrow();
  if (Number(pieces ?? 0) - Number(groups) <= foldAbove) return false;
  await foldCounts(db);
  return true;
}

/** One atomic delete-and-insert, which writers (who only insert) never wait for. */
async function foldCounts(db: Db): Promise<void> {
  await sql`with gone as (delete from package_status_counts returning site_code, state, n)
    insert into package_status_counts (site_code, state, n)
    select site_code, state, sum(n) from gone group by site_code, state having sum(n) <> 0`.execute(db);
}
