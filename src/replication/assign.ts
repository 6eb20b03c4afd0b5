import { OutpostError } from '../errors/index.js';
import { getPackageRow } from '../packages/index.js';
import type { SiteContext } from '../server/context.js';
import { nextHop, parseDpName } from '../sites/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';

async function resolveDps(ctx: SiteContext, dps: string[]): Promise<{ dp: string; site: string }[]> {
  if (dps.length === 0) throw new OutpostError('OUTPOST_BAD_INPUT', 'name at least one DP with --dp');
  const out: { dp: string; site: string }[] = [];
  for (const text of dps) {
    const { site, dp } = parseDpName(text);
    if (site !== ctx.config.code) {
      const row = await ctx.db
        .selectFrom('sites')
        .select('state')
        .where('code', '=', site)
        .executeTakeFirst();
      if (!row || row.state === 'deleted' || !(await nextHop(ctx.db, ctx.config.code, site))) {
        throw new OutpostError(
          'OUTPOST_SITE_NOT_FOUND',
          `DP ${text}: site ${site} is not at or below ${ctx.config.code}`,
        );
      }
    }
    if (!out.some((o) => o.dp === dp)) out.push({ dp, site });
  }
  return out;
}

async function assertOrigin(ctx: SiteContext, id: string) {
  const pkg = await getPackageRow(ctx.db, id);
  if (pkg.origin_site !== ctx.config.code) {
    throw new OutpostError('OUTPOST_NOT_ORIGIN', `package ${id} is managed at ${pkg.origin_site}`, {
      hint: `assign it at ${pkg.origin_site}`,
    });
  }
  return pkg;
}

/** `dp assign`: distributes a package to DPs; each goes to Install Pending until its site reports Installed. */
export async function assignPackage(
  ctx: SiteContext,
  id: string,
  dps: string[],
): Promise<{ package: string; assigned: string[]; already: string[] }> {
  dps.forEach(parseDpName);
  const pkg = await assertOrigin(ctx, id);
  const targets = await resolveDps(ctx, dps);
  const now = ctx.clock.now();
  const assigned: string[] = [];
  const already: string[] = [];
  await ctx.db.transaction().execute(async (trx) => {
    for (const t of targets) {
      const existing = await trx
        .selectFrom('assignments')
        .select('dp')
        .where('package_id', '=', id)
        .where('dp', '=', t.dp)
        .executeTakeFirst();
      if (existing) {
        already.push(t.dp);
        continue;
      }
      await trx
        .insertInto('assignments')
        .values({ package_id: id, dp: t.dp, site_code: t.site, created_at: now })
        .execute();
      await setPackageStatus(trx, ctx.sink, {
        package: id,
        sourceVersion: pkg.source_version,
        site: t.site,
        dp: t.dp,
        state: 'Install Pending',
        error: null,
        updatedAt: now,
      });
      assigned.push(t.dp);
    }
    if (assigned.length) {
      await postMessage(trx, ctx.sink, now, {
        severity: 'info',
        component: 'distmgr',
        text: `package ${id} assigned to ${assigned.join(', ')}`,
        package: id,
      });
    }
  });
  ctx.wake.notify('distmgr');
  return { package: id, assigned, already };
}

/**
 * `dp redistribute`: sends a package to DPs again — after a job used up its retries (Install
 * Failed) or a DP's copy is in doubt. The jobs that gave up are cleared and what the child was
 * given is forgotten, so distmgr offers the package afresh; the child still receives only the
 * chunks it lacks.
 */
export async function redistributePackage(
  ctx: SiteContext,
  id: string,
  dps: string[],
): Promise<{ package: string; redistributed: string[]; notAssigned: string[] }> {
  const targets = dps.map((d) => parseDpName(d));
  const pkg = await assertOrigin(ctx, id);
  const now = ctx.clock.now();
  const redistributed: string[] = [];
  const notAssigned: string[] = [];
  await ctx.db.transaction().execute(async (trx) => {
    for (const t of targets) {
      const assigned = await trx
        .selectFrom('assignments')
        .select('dp')
        .where('package_id', '=', id)
        .where('dp', '=', t.dp)
        .executeTakeFirst();
      if (!assigned) {
        notAssigned.push(t.dp);
        continue;
      }
      redistributed.push(t.dp);
      await setPackageStatus(trx, ctx.sink, {
        package: id,
        sourceVersion: pkg.source_version,
        site: t.site,
        dp: t.dp,
        state: 'Install Pending',
        error: null,
        updatedAt: now,
      });
      const child = t.site === ctx.config.code ? null : await nextHop(trx, ctx.config.code, t.site);
      if (child) {
        await trx
          .deleteFrom('jobs')
          .where('site_code', '=', child)
          .where('package_id', '=', id)
          .where('state', '=', 'failed')
          .execute();
        await trx
          .deleteFrom('deliveries')
          .where('site_code', '=', child)
          .where('package_id', '=', id)
          .execute();
      }
    }
    if (redistributed.length) {
      await postMessage(trx, ctx.sink, now, {
        severity: 'info',
        component: 'distmgr',
        text: `package ${id} redistributed to ${redistributed.join(', ')}`,
        package: id,
      });
    }
  });
  ctx.wake.notify('distmgr');
  return { package: id, redistributed, notAssigned };
}

/** `dp unassign`: takes a package off DPs; each goes Removal Pending until its site has removed it. */
export async function unassignPackage(
  ctx: SiteContext,
  id: string,
  dps: string[],
): Promise<{ package: string; unassigned: string[]; notAssigned: string[] }> {
  const targets = dps.map((d) => parseDpName(d));
  const pkg = await assertOrigin(ctx, id);
  const now = ctx.clock.now();
  const unassigned: string[] = [];
  const notAssigned: string[] = [];
  await ctx.db.transaction().execute(async (trx) => {
    for (const t of targets) {
      const result = await trx
        .deleteFrom('assignments')
        .where('package_id', '=', id)
        .where('dp', '=', t.dp)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) {
        notAssigned.push(t.dp);
        continue;
      }
      unassigned.push(t.dp);
      if (t.site !== ctx.config.code) {
        await setPackageStatus(trx, ctx.sink, {
          package: id,
          sourceVersion: pkg.source_version,
          site: t.site,
          dp: t.dp,
          state: 'Removal Pending',
          error: null,
          updatedAt: now,
        });
      }
    }
    if (unassigned.length) {
      await postMessage(trx, ctx.sink, now, {
        severity: 'info',
        component: 'distmgr',
        text: `package ${id} unassigned from ${unassigned.join(', ')}`,
        package: id,
      });
    }
  });
  ctx.wake.notify('distmgr');
  return { package: id, unassigned, notAssigned };
}

/** `dp list`: the DPs this site knows (one default DP per active site) with their package counts. */
export async function listDps(ctx: SiteContext, site?: string) {
  let q = ctx.db
    .selectFrom('sites')
    .select(['code', 'state', 'url', 'relation'])
    .where('state', '!=', 'deleted')
    .where('relation', '!=', 'parent');
  if (site) q = q.where('code', '=', site);
  const sites = await q.orderBy('code').execute();
  const statuses = await ctx.db.selectFrom('package_status').select(['dp', 'state']).execute();
  return sites.map((s) => {
    const mine = statuses.filter((st) => st.dp === s.code);
    return {
      dp: s.code,
      site: s.code,
      url: s.url ? `${s.url}/dp/` : null,
      siteState: s.state,
      packages: mine.length,
      installed: mine.filter((st) => st.state === 'Installed').length,
    };
  });
}
