import type { SiteContext } from '../core/index.js';
import { installOnDp, removeFromDp } from '../dp/index.js';

/**
 * Brings this site's own DP in line: installs each package in `ready` (complete and assigned
 * here) and removes every package it holds that is no longer assigned here at all. Returns
 * whether anything was removed, so content may have been freed.
 */
export async function syncOwnDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store'>,
  ready: Set<string>,
  assigned: Set<string>,
): Promise<boolean> {
  for (const pkg of ready) await installOnDp(ctx, pkg);
  const held = await ctx.db
    .selectFrom('package_status')
    .select('package_id')
    .where('dp', '=', ctx.config.code)
    .execute();
  let removed = false;
  for (const { package_id } of held) {
    if (assigned.has(package_id)) continue;
    await removeFromDp(ctx, package_id);
    removed = true;
  }
  return removed;
}
