import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Database, dropDp, dropSiteContent, forgetSite } from '../db/index.js';
import type {
  ClientRecord,
  DeploymentStatus,
  DpRecord,
  PackageStatus,
  Report,
  ReportedMessage,
  Severity,
  SiteRecord,
  StatusMessage,
} from './model.js';
import { ReportScope } from './scope.js';

type Db = Kysely<Database>;

/** Where this site sends reports: only a site with a parent keeps an outbox. */
export interface ReportSink {
  site: string;
  hasParent: boolean;
}

async function enqueue(db: Db, sink: ReportSink, report: Report, now: number): Promise<void> {
  if (!sink.hasParent) return;
  await db
    .insertInto('outbox')
    .values({ kind: report.kind, payload: JSON.stringify(report), created_at: now })
    .execute();
}

async function insertMessage(db: Db, m: ReportedMessage): Promise<boolean> {
  const result = await db
    .insertInto('status_messages')
    .values({
      id: m.id,
      severity: m.severity,
      component: m.component,
      site_code: m.site,
      text: m.text,
      package_id: m.package,
      job_id: m.job,
      subject_site: m.subject ?? null,
      time: m.time,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/**
 * Records a status message of this site's own and queues it for the parent. `subject` is the other
 * site the message is about (a child that failed, a site deleted); a message about this site itself
 * has none.
 */
export async function postMessage(
  db: Db,
  sink: ReportSink,
  now: number,
  m: {
    severity: Severity;
    component: string;
    text: string;
    package?: string | null;
    job?: string | null;
    subject?: string | null;
  },
): Promise<StatusMessage> {
  const message: StatusMessage = {
    id: randomUUID(),
    severity: m.severity,
    component: m.component,
    site: sink.site,
    text: m.text,
    package: m.package ?? null,
    job: m.job ?? null,
    subject: m.subject === sink.site ? null : (m.subject ?? null),
    time: now,
  };
  await insertMessage(db, message);
  await enqueue(db, sink, { kind: 'message', message }, now);
  return message;
}

async function applyPackageStatus(db: Db, s: PackageStatus): Promise<boolean> {
  const existing = await db
    .selectFrom('package_status')
    .select(['updated_at', 'state', 'source_version', 'error'])
    .where('package_id', '=', s.package)
    .where('dp', '=', s.dp)
    .executeTakeFirst();
  if (existing && existing.updated_at > s.updatedAt) return false;
  const unchanged =
    existing?.updated_at === s.updatedAt &&
    existing.state === s.state &&
    existing.source_version === s.sourceVersion &&
    existing.error === s.error;
  if (unchanged) return false;
  if (s.state === 'Removed') {
    await db
      .deleteFrom('package_status')
      .where('package_id', '=', s.package)
      .where('dp', '=', s.dp)
      .execute();
    return true;
  }
  const row = {
    site_code: s.site,
    source_version: s.sourceVersion,
    state: s.state,
    error: s.error,
    updated_at: s.updatedAt,
  };
  await db
    .insertInto('package_status')
    .values({ package_id: s.package, dp: s.dp, ...row })
    .onConflict((oc) => oc.columns(['package_id', 'dp']).doUpdateSet(row))
    .execute();
  return true;
}

/** Sets a package's status at a DP here and queues it for the parent. */
export async function setPackageStatus(db: Db, sink: ReportSink, status: PackageStatus): Promise<void> {
  if (await applyPackageStatus(db, status))
    await enqueue(db, sink, { kind: 'package-status', status }, status.updatedAt);
}

/** Rows a batched statement writes at once: well under SQLite's and PostgreSQL's parameter limits. */
const BATCH = 500;

/**
 * Sets many packages' status here, fresh from this site (nothing newer can be held), and queues
 * them for the parent: a statement per batch, not three per row, for `dp clone` of thousands.
 */
export async function setPackageStatuses(db: Db, sink: ReportSink, statuses: PackageStatus[]): Promise<void> {
  for (let i = 0; i < statuses.length; i += BATCH) {
    const batch = statuses.slice(i, i + BATCH);
    await db
      .insertInto('package_status')
      .values(
        batch.map((s) => ({
          package_id: s.package,
          dp: s.dp,
          site_code: s.site,
          source_version: s.sourceVersion,
          state: s.state,
          error: s.error,
          updated_at: s.updatedAt,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['package_id', 'dp']).doUpdateSet((eb) => ({
          site_code: eb.ref('excluded.site_code'),
          source_version: eb.ref('excluded.source_version'),
          state: eb.ref('excluded.state'),
          error: eb.ref('excluded.error'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
    if (sink.hasParent)
      await db
        .insertInto('outbox')
        .values(
          batch.map((status) => ({
            kind: 'package-status' as const,
            payload: JSON.stringify({ kind: 'package-status', status }),
            created_at: status.updatedAt,
          })),
        )
        .execute();
  }
}

/** A package goes (back) to Install Pending at a DP, its error cleared: a new attempt is under way. */
export async function setInstallPending(
  db: Db,
  sink: ReportSink,
  at: Pick<PackageStatus, 'package' | 'sourceVersion' | 'site' | 'dp'>,
  now: number,
): Promise<void> {
  await setPackageStatus(db, sink, { ...at, state: 'Install Pending', error: null, updatedAt: now });
}

/** Queues a purge of `code` for the ancestors. */
export async function reportPurge(db: Db, sink: ReportSink, code: string, now: number): Promise<void> {
  await enqueue(db, sink, { kind: 'purge', code, at: now }, now);
}

/** Queues a record of one of this site's children (or itself) for the parent. */
export async function reportSite(db: Db, sink: ReportSink, site: SiteRecord): Promise<void> {
  await enqueue(db, sink, { kind: 'site', site }, site.updatedAt);
}

/** Queues a record of one of this site's named DPs (added or removed) for the parent. */
export async function reportDp(db: Db, sink: ReportSink, dp: DpRecord): Promise<void> {
  await enqueue(db, sink, { kind: 'dp', dp }, dp.updatedAt);
}

/** A named DP's record from below, applied when newer than the one held; a removal drops it here. */
async function applyDp(db: Db, d: DpRecord): Promise<boolean> {
  const existing = await db.selectFrom('dps').select('updated_at').where('dp', '=', d.dp).executeTakeFirst();
  if (existing && existing.updated_at >= d.updatedAt) return false;
  if (d.removed) {
    await dropDp(db, d.dp);
    return true;
  }
  const row = { site_code: d.site, url: d.url, updated_at: d.updatedAt };
  await db
    .insertInto('dps')
    .values({ dp: d.dp, created_at: d.updatedAt, ...row })
    .onConflict((oc) => oc.column('dp').doUpdateSet(row))
    .execute();
  return true;
}

/** A client's record from its site, applied when newer than the one held (a client may move between sites). */
async function applyClient(db: Db, c: ClientRecord): Promise<boolean> {
  const existing = await db
    .selectFrom('clients')
    .select(['updated_at', 'site_code'])
    .where('id', '=', c.id)
    .executeTakeFirst();
  if (existing && existing.updated_at >= c.updatedAt) return false;
  const row = {
    site_code: c.site,
    name: c.name,
    address: c.address,
    boundary: c.boundary,
    registered_at: c.registeredAt,
    last_seen: c.updatedAt,
    updated_at: c.updatedAt,
  };
  await db
    .insertInto('clients')
    .values({ id: c.id, public_key: null, ...row })
    .onConflict((oc) => oc.column('id').doUpdateSet(row))
    .execute();
  return true;
}

/**
 * Records a client registered (or moved) at this site and queues its record for the parent. The key
 * is kept only here.
 */
export async function recordClient(
  db: Db,
  sink: ReportSink,
  client: ClientRecord,
  publicKey: string,
): Promise<void> {
  await applyClient(db, client);
  await db.updateTable('clients').set({ public_key: publicKey }).where('id', '=', client.id).execute();
  await enqueue(db, sink, { kind: 'client', client }, client.updatedAt);
}

async function applyDeploymentStatus(db: Db, s: DeploymentStatus): Promise<boolean> {
  const existing = await db
    .selectFrom('deployment_status')
    .select(['updated_at', 'state', 'exit_code', 'output'])
    .where('deployment_id', '=', s.deployment)
    .where('client_id', '=', s.client)
    .executeTakeFirst();
  if (existing && existing.updated_at > s.updatedAt) return false;
  // Two reports in one millisecond: the later one counts; the same report again is not news.
  const unchanged =
    existing?.updated_at === s.updatedAt &&
    existing.state === s.state &&
    existing.exit_code === s.exitCode &&
    existing.output === s.output;
  if (unchanged) return false;
  const row = {
    package_id: s.package,
    site_code: s.site,
    state: s.state,
    exit_code: s.exitCode,
    output: s.output,
    updated_at: s.updatedAt,
  };
  await db
    .insertInto('deployment_status')
    .values({ deployment_id: s.deployment, client_id: s.client, ...row })
    .onConflict((oc) => oc.columns(['deployment_id', 'client_id']).doUpdateSet(row))
    .execute();
  return true;
}

/** Records where a deployment stands on a client of this site and queues it for the parent. */
export async function setDeploymentStatus(db: Db, sink: ReportSink, status: DeploymentStatus): Promise<void> {
  if (await applyDeploymentStatus(db, status))
    await enqueue(db, sink, { kind: 'deployment-status', status }, status.updatedAt);
}

/** A record the report scope has found to be the child's to report, applied when newer. */
async function applySite(db: Db, s: SiteRecord): Promise<boolean> {
  const existing = await db
    .selectFrom('sites')
    .select('updated_at')
    .where('code', '=', s.code)
    .executeTakeFirst();
  if (existing && existing.updated_at >= s.updatedAt) return false;
  const row = {
    type: s.type,
    parent_code: s.parent,
    name: s.name,
    url: s.url,
    state: s.state,
    generation: s.generation,
    last_contact: s.lastContact,
    error: s.error,
    updated_at: s.updatedAt,
  };
  await db
    .insertInto('sites')
    .values({ code: s.code, relation: 'descendant', created_at: s.updatedAt, ...row })
    .onConflict((oc) => oc.column('code').doUpdateSet(row))
    .execute();
  // A deleted site holds nothing any more, at every ancestor too.
  if (s.state === 'deleted') await dropSiteContent(db, s.code);
  return true;
}

/**
 * Applies reports that arrived from `child`, each once: a message by its id, a status or a site
 * record only when newer than what is held. What was applied goes on up. A report about a site
 * outside the child's subtree (see {@link ReportScope}) is not applied; the sites such reports
 * named are returned, one per report, for the caller to warn about once.
 */
export async function applyReports(
  db: Db,
  sink: ReportSink,
  child: string,
  reports: readonly Report[],
  now: number,
): Promise<{ applied: number; outside: string[] }> {
  const scope = await ReportScope.load(db, sink.site, child);
  let applied = 0;
  const outside: string[] = [];
  for (const report of reports) {
    const stray = scope.outside(report);
    if (stray !== null) {
      outside.push(stray);
      continue;
    }
    let fresh: boolean;
    if (report.kind === 'message') fresh = await insertMessage(db, report.message);
    else if (report.kind === 'package-status') fresh = await applyPackageStatus(db, report.status);
    else if (report.kind === 'site') {
      fresh = await applySite(db, report.site);
      if (fresh) scope.place(report.site);
    } else if (report.kind === 'dp') {
      fresh = await applyDp(db, report.dp);
    } else if (report.kind === 'client') {
      fresh = await applyClient(db, report.client);
    } else if (report.kind === 'deployment-status') {
      fresh = await applyDeploymentStatus(db, report.status);
    } else {
      // A purge always travels on up: an ancestor may know the site even where this one did not.
      await forgetSite(db, report.code);
      scope.forget(report.code);
      fresh = true;
    }
    if (fresh) {
      applied++;
      await enqueue(db, sink, report, now);
    }
  }
  return { applied, outside };
}

/** The oldest reports not yet forwarded. */
export async function pendingReports(db: Db, limit: number): Promise<{ upTo: number; reports: Report[] }> {
  const rows = await db.selectFrom('outbox').select(['seq', 'payload']).orderBy('seq').limit(limit).execute();
  return {
    upTo: rows.length ? rows[rows.length - 1].seq : 0,
    reports: rows.map((r) => JSON.parse(r.payload) as Report),
  };
}

/** Drops reports the parent has acknowledged. */
export async function acknowledgeReports(db: Db, upTo: number): Promise<void> {
  await db.deleteFrom('outbox').where('seq', '<=', upTo).execute();
}
