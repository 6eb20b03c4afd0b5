import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { postMessage, setPackageStatuses } from '../status/index.js';
import { resolveDps } from './assign.js';

/** What `dp clone` did, or with `dryRun` would do. */
export interface CloneResult {
  from: string;
  to: string;
  dryRun: boolean;
  /** Packages assigned to `to` (or that would be). */
  added: string[];
  /** Packages of `from` that `to` already had. */
  already: string[];
  /** Packages of `from` not managed here: they are assigned at their origin. */
  skipped: { package: string; reason: string }[];
  /**
   * What the target's site still lacks of the added packages: nothing for a package its site
   * already has Installed on one of its DPs at the current version, else the package's size.
   */
  bytesMissing: number;
}

const BATCH = 500;

/**
 * `dp clone`: assigns to DP `to` every package assigned to DP `from` that this site manages (it is
 * the package's origin), in one transaction, then wakes distmgr once to carry them all down.
 */
export async function cloneDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  input: { from: string; to: string; dryRun?: boolean },
): Promise<CloneResult> {
  const [source] = await resolveDps(ctx, [input.from]);
  const [target] = await resolveDps(ctx, [input.to]);
  if (source.dp === target.dp)
    throw new OutpostError('OUTPOST_BAD_DP', `dp clone from ${source.dp} to itself`, {
      hint: 'name two different DPs',
    });
  const self = ctx.config.code;
  const dryRun = input.dryRun ?? false;
  const now = ctx.clock.now();
  const result = await ctx.db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('assignments')
      .innerJoin('packages', 'packages.id', 'assignments.package_id')
      .select(['packages.id', 'packages.source_version', 'packages.origin_site'])
      .where('assignments.dp', '=', source.dp)
      .orderBy('packages.id')
      .execute();
    const onTarget = new Set(
      (await trx.selectFrom('assignments').select('package_id').where('dp', '=', target.dp).execute()).map(
        (r) => r.package_id,
      ),
    );
    const skipped = rows
      .filter((r) => r.origin_site !== self)
      .map((r) => ({ package: r.id, reason: `managed at ${r.origin_site}` }));
    const mine = rows.filter((r) => r.origin_site === self);
    const add = mine.filter((r) => !onTarget.has(r.id));
    const already = mine.filter((r) => onTarget.has(r.id)).map((r) => r.id);
    const bytesMissing = await lacking(trx, target.site, add);
    if (!dryRun && add.length > 0) {
      for (let i = 0; i < add.length; i += BATCH)
        await trx
          .insertInto('assignments')
          .values(
            add
              .slice(i, i + BATCH)
              .map((r) => ({ package_id: r.id, dp: target.dp, site_code: target.site, created_at: now })),
          )
          .execute();
      await setPackageStatuses(
        trx,
        ctx.sink,
        add.map((r) => ({
          package: r.id,
          sourceVersion: r.source_version,
          site: target.site,
          dp: target.dp,
          state: 'Install Pending' as const,
          error: null,
          updatedAt: now,
        })),
      );
      await postMessage(trx, ctx.sink, now, {
        severity: 'info',
        component: 'distmgr',
        text: `dp clone from ${source.dp} to ${target.dp}: ${add.length} packages assigned`,
        subject: target.site,
      });
    }
    return { added: add.map((r) => r.id), already, skipped, bytesMissing };
  });
  if (!dryRun && result.added.length > 0) ctx.wake.notify('distmgr');
  return { from: source.dp, to: target.dp, dryRun, ...result };
}

/**
 * The bytes `site` lacks of `packages`: none of one already Installed at the current version on
 * one of its DPs (the DPs of a site share its content library), else its whole size.
 */
async function lacking(
  db: SiteContext['db'],
  site: string,
  packages: { id: string; source_version: number }[],
): Promise<number> {
  if (packages.length === 0) return 0;
  const held = new Set(
    (
      await db
        .selectFrom('package_status')
        .select(['package_id', 'source_version'])
        .where('site_code', '=', site)
        .where('state', '=', 'Installed')
        .execute()
    ).map((r) => `${r.package_id}@${r.source_version}`),
  );
  const wanted = packages.filter((p) => !held.has(`${p.id}@${p.source_version}`));
  const sizes = await packageSizes(db);
  return wanted.reduce((sum, p) => sum + (sizes.get(p.id) ?? 0), 0);
}

/** Each package's size at its current version, by package id. */
export async function packageSizes(db: SiteContext['db']): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('package_files')
    .innerJoin('packages', (join) =>
      join
        .onRef('packages.id', '=', 'package_files.package_id')
        .onRef('packages.source_version', '=', 'package_files.source_version'),
    )
    .select(['package_files.package_id', (eb) => eb.fn.sum<number>('package_files.size').as('bytes')])
    .groupBy('package_files.package_id')
    .execute();
  return new Map(rows.map((r) => [r.package_id, Number(r.bytes)]));
}
