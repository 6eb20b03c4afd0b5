import type { SiteContext } from '../core/index.js';
import { installOnDp, removeFromDp } from '../dp/index.js';
import { inChunks } from './schedule.js';

/**
 * Brings this site's own DPs (its default one and its named ones) in line: installs on each DP the
 * packages in `ready` assigned to it (complete here), and removes from each every package it
 * holds that is no longer assigned to it. Returns whether anything was removed, so content may
 * have been freed. With `only`, looks at those packages alone (what a round that works from changes
 * read the assignments of).
 */
export async function syncOwnDps(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store'>,
  ready: Set<string>,
  assigned: Map<string, Set<string>>,
  only?: string[],
): Promise<boolean> {
  for (const [dp, packages] of assigned)
    for (const pkg of packages) if (ready.has(pkg)) await installOnDp(ctx, pkg, dp);
  const held: { package_id: string; dp: string }[] = [];
  for (const chunk of only ? inChunks(only) : [null]) {
    let query = ctx.db
      .selectFrom('package_status')
      .select(['package_id', 'dp'])
      .where('site_code', '=', ctx.config.code);
    if (chunk) query = query.where('package_id', 'in', chunk);
    held.push(...(await query.execute()));
  }
  let removed = false;
  for (const { package_id, dp } of held) {
    if (assigned.get(dp)?.has(package_id)) continue;
    await removeFromDp(ctx, package_id, dp);
    removed = true;
  }
  return removed;
}
