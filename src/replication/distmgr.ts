import type { SiteContext } from '../core/index.js';
import { nextHop } from '../sites/index.js';
import type { Target } from './diff.js';
import { collectGarbage, retireUnneeded } from './gc.js';
import { syncOwnDps } from './owndp.js';
import { scheduleChild } from './schedule.js';

/**
 * distmgr: compares what each child should hold (the package versions assigned to DPs in its
 * subtree) with what it was last given, and has the scheduler make a job for each difference. It
 * also installs or removes packages on this site's own DPs and frees content nothing needs.
 * Level-triggered: running it again with nothing changed does nothing.
 */
export async function reconcile(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store' | 'transfers' | 'wake'>,
): Promise<void> {
  const now = ctx.clock.now();
  const assignments = await ctx.db.selectFrom('assignments').selectAll().orderBy('dp').execute();
  const { perChild, ready } = await wantedByChild(ctx, assignments);

  const children = await ctx.db
    .selectFrom('sites')
    .select(['code', 'state'])
    .where('relation', '=', 'child')
    .execute();
  for (const child of children) {
    if (child.state === 'deleted') continue;
    await scheduleChild(ctx, child.code, perChild.get(child.code) ?? new Map<string, Target>(), now);
  }

  const assignedHere = new Map<string, Set<string>>();
  for (const a of assignments) {
    if (a.site_code !== ctx.config.code) continue;
    const packages = assignedHere.get(a.dp) ?? new Set<string>();
    packages.add(a.package_id);
    assignedHere.set(a.dp, packages);
  }
  const removed = await syncOwnDps(ctx, ready, assignedHere);
  const retired = await retireUnneeded(
    ctx,
    assignments.map((a) => a.package_id),
  );
  if (removed || retired) {
    const freed = await collectGarbage(ctx);
    if (freed > 0) ctx.log('distmgr').info({ chunks: freed }, 'freed content no package needs');
  }
  ctx.wake.notify('sender');
}

/**
 * What each child should hold (package → version and the DPs below it it is for), and the
 * packages ready for this site's own DP. Only a package whose current version is complete here is
 * passed on or installed.
 */
async function wantedByChild(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  assignments: { package_id: string; site_code: string; dp: string }[],
): Promise<{ perChild: Map<string, Map<string, Target>>; ready: Set<string> }> {
  const self = ctx.config.code;
  const packages = new Map(
    (await ctx.db.selectFrom('packages').select(['id', 'source_version', 'complete_version']).execute()).map(
      (p) => [p.id, p],
    ),
  );
  const perChild = new Map<string, Map<string, Target>>();
  const ready = new Set<string>();
  const hops = new Map<string, string | null>();
  for (const a of assignments) {
    const pkg = packages.get(a.package_id);
    if (!pkg || pkg.complete_version !== pkg.source_version) continue;
    if (a.site_code === self) {
      ready.add(a.package_id);
      continue;
    }
    if (!hops.has(a.site_code)) hops.set(a.site_code, await nextHop(ctx.db, self, a.site_code));
    const child = hops.get(a.site_code);
    if (!child) continue;
    const want = perChild.get(child) ?? new Map<string, Target>();
    const target = want.get(a.package_id) ?? { version: pkg.source_version, dps: [] };
    target.dps.push(a.dp);
    want.set(a.package_id, target);
    perChild.set(child, want);
  }
  return { perChild, ready };
}
