import type { SiteContext } from '../core/index.js';
import { installOnDp, removeFromDp } from '../dp/index.js';
import { cancelJobs, createJob, OPEN_STATES } from '../jobs/index.js';
import { importsInProgress } from '../packages/index.js';
import { nextHop } from '../sites/index.js';

interface Target {
  version: number;
  dps: string[];
}

const same = (a: Target | undefined, b: Target | undefined) =>
  a?.version === b?.version && JSON.stringify(a?.dps ?? []) === JSON.stringify(b?.dps ?? []);

/**
 * distmgr: compares what each child should hold (the package versions assigned to DPs in its
 * subtree) with what it was last given, and has the scheduler make a job for each difference. It
 * also installs or removes packages on this site's own DP and frees content nothing needs.
 * Level-triggered: running it again with nothing changed does nothing.
 */
export async function reconcile(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store' | 'transfers' | 'wake'>,
): Promise<void> {
  const self = ctx.config.code;
  const log = ctx.log('distmgr');
  const now = ctx.clock.now();
  const packages = new Map(
    (
      await ctx.db
        .selectFrom('packages')
        .select(['id', 'source_version', 'complete_version', 'origin_site'])
        .execute()
    ).map((p) => [p.id, p]),
  );
  const assignments = await ctx.db.selectFrom('assignments').selectAll().orderBy('dp').execute();

  const wanted = new Map<string, Map<string, Target>>();
  const ownDp = new Set<string>();
  const hops = new Map<string, string | null>();
  for (const a of assignments) {
    const pkg = packages.get(a.package_id);
    if (!pkg || pkg.complete_version !== pkg.source_version) continue;
    if (a.site_code === self) {
      ownDp.add(a.package_id);
      continue;
    }
    if (!hops.has(a.site_code)) hops.set(a.site_code, await nextHop(ctx.db, self, a.site_code));
    const child = hops.get(a.site_code);
    if (!child) continue;
    const perChild = wanted.get(child) ?? new Map<string, Target>();
    const target = perChild.get(a.package_id) ?? { version: pkg.source_version, dps: [] };
    target.dps.push(a.dp);
    perChild.set(a.package_id, target);
    wanted.set(child, perChild);
  }

  const children = await ctx.db
    .selectFrom('sites')
    .select(['code', 'state'])
    .where('relation', '=', 'child')
    .execute();
  for (const child of children) {
    if (child.state === 'deleted') continue;
    const want = wanted.get(child.code) ?? new Map<string, Target>();
    const delivered = new Map(
      (await ctx.db.selectFrom('deliveries').selectAll().where('site_code', '=', child.code).execute()).map(
        (d) => [d.package_id, { version: d.source_version, dps: JSON.parse(d.dps) as string[] }],
      ),
    );
    const open = await ctx.db
      .selectFrom('jobs')
      .selectAll()
      .where('site_code', '=', child.code)
      .where('state', 'in', OPEN_STATES)
      .execute();
    // A job that used up its retries stays failed (Install Failed) until the target changes or an
    // administrator redistributes; it is not silently re-created every round.
    const failed = await ctx.db
      .selectFrom('jobs')
      .select(['package_id', 'source_version', 'dps'])
      .where('site_code', '=', child.code)
      .where('state', '=', 'failed')
      .execute();
    for (const pkg of new Set([
      ...want.keys(),
      ...delivered.keys(),
      ...open.map((j) => j.package_id ?? ''),
    ])) {
      if (!pkg) continue;
      const target = want.get(pkg);
      const has = delivered.get(pkg);
      const openJobs = open.filter((j) => j.package_id === pkg);
      const pending = openJobs.find((j) =>
        same(
          { version: j.source_version ?? 0, dps: JSON.parse(j.dps) as string[] },
          target ?? { version: j.source_version ?? 0, dps: [] },
        ),
      );
      const nothingToDo = target ? same(target, has) : !has;
      const gaveUp = failed.some(
        (j) =>
          j.package_id === pkg &&
          same({ version: j.source_version ?? 0, dps: JSON.parse(j.dps) as string[] }, target),
      );
      if (gaveUp && openJobs.length === 0) continue;
      if ((nothingToDo && openJobs.length === 0) || (pending && openJobs.length === 1)) continue;
      await ctx.db.transaction().execute(async (trx) => {
        const cancelled = openJobs.length
          ? await cancelJobs(trx, { site: child.code, package: pkg }, 'superseded by a newer assignment', now)
          : [];
        for (const id of cancelled) ctx.transfers.abort(id, 'superseded');
        if (nothingToDo) return;
        const kind = target ? 'package' : 'unassign';
        const id = await createJob(
          trx,
          {
            site: child.code,
            kind,
            package: pkg,
            sourceVersion: target?.version ?? has?.version ?? null,
            dps: target?.dps ?? [],
          },
          now,
        );
        ctx
          .log('scheduler')
          .info({ job: id, site: child.code, package: pkg, kind }, `job ${kind} ${pkg} to ${child.code}`);
      });
    }
  }

  for (const pkg of ownDp) {
    await installOnDp(ctx, pkg);
  }
  const ownStatus = await ctx.db
    .selectFrom('package_status')
    .select('package_id')
    .where('dp', '=', self)
    .execute();
  let removed = false;
  for (const { package_id } of ownStatus) {
    if (ownDp.has(package_id)) continue;
    const stillAssigned = assignments.some((a) => a.package_id === package_id && a.site_code === self);
    if (stillAssigned) continue;
    await removeFromDp(ctx, package_id);
    removed = true;
  }
  const retired = await retireUnneeded(
    ctx,
    assignments.map((a) => a.package_id),
  );
  if (removed || retired) {
    const freed = await collectGarbage(ctx);
    if (freed > 0) log.info({ chunks: freed }, 'freed content no package needs');
  }
  ctx.wake.notify('sender');
}

/**
 * A package that this site only carried for others (not its origin, no longer assigned anywhere
 * below it) is forgotten, once no job still needs it.
 */
async function retireUnneeded(ctx: Pick<SiteContext, 'config' | 'db'>, assigned: string[]): Promise<boolean> {
  const keep = new Set(assigned);
  const rows = await ctx.db
    .selectFrom('packages')
    .select(['id', 'complete_version'])
    .where('origin_site', '!=', ctx.config.code)
    .execute();
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
    await ctx.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('package_files').where('package_id', '=', row.id).execute();
      await trx.deleteFrom('packages').where('id', '=', row.id).execute();
    });
    retired = true;
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
  let freed = 0;
  for (const sha of stored) {
    if (!referenced.has(sha)) {
      await ctx.store.delete(sha);
      freed++;
    }
  }
  return freed;
}
