import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Rows removed per table, for the repair commands' reports. */
export type RemovedRows = Record<
  'sites' | 'phases' | 'addresses' | 'assignments' | 'statuses' | 'deliveries' | 'jobs' | 'messages',
  number
>;

const count = (r: { numDeletedRows: bigint }) => Number(r.numDeletedRows);

/**
 * Drops what a site holds about the content of `code` — its DP assignments, package status, what
 * was delivered to it, its boundaries and clients — as a delete does at the site's parent and every
 * ancestor.
 */
export async function dropSiteContent(
  db: Kysely<Database>,
  code: string,
): Promise<Pick<RemovedRows, 'assignments' | 'statuses' | 'deliveries'>> {
  await db.deleteFrom('dps').where('site_code', '=', code).execute();
  // Its boundaries, clients and their deployment status go with it; deployments that target it stay
  // at their origin, for a site added again under the code.
  await db.deleteFrom('boundaries').where('site_code', '=', code).execute();
  await db.deleteFrom('clients').where('site_code', '=', code).execute();
  await db.deleteFrom('deployment_status').where('site_code', '=', code).execute();
  return {
    assignments: count(
      await db.deleteFrom('assignments').where('site_code', '=', code).executeTakeFirstOrThrow(),
    ),
    statuses: count(
      await db.deleteFrom('package_status').where('site_code', '=', code).executeTakeFirstOrThrow(),
    ),
    deliveries: count(
      await db.deleteFrom('deliveries').where('site_code', '=', code).executeTakeFirstOrThrow(),
    ),
  };
}

/**
 * Drops a named DP and what is held about it — its assignments and package status — here; each
 * ancestor does the same when the removal reaches it.
 */
export async function dropDp(
  db: Kysely<Database>,
  dp: string,
): Promise<Pick<RemovedRows, 'assignments' | 'statuses'>> {
  await db.deleteFrom('dps').where('dp', '=', dp).execute();
  return {
    assignments: count(await db.deleteFrom('assignments').where('dp', '=', dp).executeTakeFirstOrThrow()),
    statuses: count(await db.deleteFrom('package_status').where('dp', '=', dp).executeTakeFirstOrThrow()),
  };
}

/** Removes every row that names `code`, whatever state the rows are in (the repair for an inconsistent database). */
export async function forgetSite(db: Kysely<Database>, code: string): Promise<RemovedRows> {
  const content = await dropSiteContent(db, code);
  return {
    ...content,
    // Purge jobs about `code` are the repair's own work and stay as its record.
    jobs: count(await db.deleteFrom('jobs').where('site_code', '=', code).executeTakeFirstOrThrow()),
    addresses: count(
      await db.deleteFrom('addresses').where('site_code', '=', code).executeTakeFirstOrThrow(),
    ),
    phases: count(await db.deleteFrom('site_phases').where('site_code', '=', code).executeTakeFirstOrThrow()),
    messages: count(
      await db.deleteFrom('status_messages').where('site_code', '=', code).executeTakeFirstOrThrow(),
    ),
    sites: count(
      await db
        .deleteFrom('sites')
        .where('code', '=', code)
        .where('relation', 'in', ['child', 'descendant'])
        .executeTakeFirstOrThrow(),
    ),
  };
}

/** Total rows in a removal report. */
export function totalRemoved(r: Partial<RemovedRows>): number {
  return Object.values(r).reduce((a, b) => a + (b ?? 0), 0);
}
