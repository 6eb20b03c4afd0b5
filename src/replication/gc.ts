import type { SiteContext } from '../core/index.js';
import { OPEN_STATES } from '../jobs/index.js';
import { importsInProgress } from '../packages/index.js';
import { inChunks } from './schedule.js';

/** Drops a package's row and manifests; its chunks go at the next garbage collection. */
export async function forgetPackage(db: SiteContext['db'], id: string): Promise<void> {
  await db.deleteFrom('package_files').where('package_id', '=', id).execute();
  await db.deleteFrom('packages').where('id', '=', id).execute();
}

/**
 * A package that this site only carried for others (not its origin, no longer assigned anywhere
 * below it) is forgotten, once no job still needs it. One that never completed here is left: its
 * chunks may be arriving, and it is forgotten when the parent unassigns it (acceptAssignments).
 * With `only`, looks at those packages alone.
 */
export async function retireUnneeded(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  assigned: string[],
  only?: string[],
): Promise<boolean> {
  const keep = new Set(assigned);
  const rows: { id: string; complete_version: number | null }[] = [];
  for (const chunk of only ? inChunks(only) : [null]) {
    let query = ctx.db
      .selectFrom('packages')
      .select(['id', 'complete_version'])
      .where('origin_site', '!=', ctx.config.code);
    if (chunk) query = query.where('id', 'in', chunk);
    rows.push(...(await query.execute()));
  }
  let retired = false;
  for (const row of rows) {
    if (keep.has(row.id) || row.complete_version === null) continue;
    const openJob = await ctx.db
      .selectFrom('jobs')
      .select('id')
      .where('package_id', '=', row.id)
      .where('state', 'in', OPEN_STATES)
      .where('kind', '=', 'package')
      .executeTakeFirst();
    if (openJob) continue;
    // `assigned` was read before this round installed anything: a package whose assignments
    // arrived since (another job completing meanwhile) is assigned after all.
    retired =
      (await ctx.db.transaction().execute(async (trx) => {
        const now = await trx
          .selectFrom('assignments')
          .select('dp')
          .where('package_id', '=', row.id)
          .executeTakeFirst();
        if (now) return false;
        await forgetPackage(trx, row.id);
        return true;
      })) || retired;
  }
  return retired;
}

/** Deletes every chunk no package version held here refers to. Returns how many went. */
export async function collectGarbage(ctx: Pick<SiteContext, 'db' | 'store'>): Promise<number> {
  // A package being imported has chunks stored but no manifest yet; wait for the next round.
  if (importsInProgress()) return 0;
  // List first, then read the manifests: a chunk that exists was offered (its manifest stored)
  // before it arrived, so it cannot be missed by the manifests read after the listing.
  const stored: string[] = [];
  for await (const sha of ctx.store.list()) stored.push(sha);
  const referenced = new Set<string>();
  const rows = await ctx.db.selectFrom('package_files').select('chunks').execute();
  for (const r of rows) for (const [sha] of JSON.parse(r.chunks) as [string, number][]) referenced.add(sha);
  // Preloaded for a package this site may be sent later: recorded before they were stored.
  for (const r of await ctx.db.selectFrom('preloaded_chunks').select('sha256').execute())
    referenced.add(r.sha256);
  const unneeded = stored.filter((sha) => !referenced.has(sha));
  await ctx.store.delete(unneeded);
  return unneeded.length;
}
