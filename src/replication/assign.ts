import type { SiteContext } from '../core/index.js';
import { assertDpKnown, namedDpPath } from '../dp/index.js';
import { OutpostError } from '../errors/index.js';
import { getPackageRow } from '../packages/index.js';
import { nextHop, parseDpName } from '../sites/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';
import { sendAgain } from './given.js';

/** Checks DP names and that each DP is at or below this site (a named one known here). */
export async function resolveDps(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  dps: string[],
): Promise<{ dp: string; site: string }[]> {
  if (dps.length === 0) throw new OutpostError('OUTPOST_BAD_INPUT', 'name at least one DP with --dp');
  const out: { dp: string; site: string }[] = [];
  for (const text of dps) {
    const { site, dp, name } = parseDpName(text);
    if (site !== ctx.config.code) {
      const row = await ctx.db
        .selectFrom('sites')
        .select('state')
        .where('code', '=', site)
        .executeTakeFirst();
      if (!row) {
        // A site that has just joined further down is known here only once its parent's status
        // report has arrived: say so, rather than call a real site unknown.
        throw new OutpostError(
          'OUTPOST_SITE_NOT_FOUND',
          `DP ${text}: site ${site} is not known at ${ctx.config.code}`,
          {
            hint: `a site that has just joined below a child site appears here within seconds; check outpost site list`,
          },
        );
      }
      if (row.state === 'deleted' || !(await nextHop(ctx.db, ctx.config.code, site))) {
        throw new OutpostError(
          'OUTPOST_SITE_NOT_FOUND',
          `DP ${text}: site ${site} is ${row.state === 'deleted' ? 'deleted' : `not at or below ${ctx.config.code}`}`,
        );
      }
    }
    if (name !== null) await assertDpKnown(ctx, dp);
    if (!out.some((o) => o.dp === dp)) out.push({ dp, site });
  }
  return out;
}

async function assertOrigin(ctx: Pick<SiteContext, 'config' | 'db'>, id: string) {
  const pkg = await getPackageRow(ctx.db, id);
  if (pkg.origin_site !== ctx.config.code) {
    throw new OutpostError('OUTPOST_NOT_ORIGIN', `package ${id} is managed at ${pkg.origin_site}`, {
      hint: `assign it at ${pkg.origin_site}`,
    });
  }
  return pkg;
}

type Db = SiteContext['db'];
type Target = { dp: string; site: string };

/**
 * The common shape of assign, redistribute and unassign: at the package's origin, in one
 * transaction, `act` on each DP (true when it changed something), a status message per site naming
 * its DPs changed (about that site), and distmgr woken to carry the change down.
 */
async function changeDps(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  id: string,
  targets: Target[],
  verb: string,
  act: (
    trx: Db,
    t: Target,
    status: (state: 'Install Pending' | 'Removal Pending') => Promise<void>,
  ) => Promise<boolean>,
): Promise<{ changed: string[]; unchanged: string[] }> {
  const pkg = await assertOrigin(ctx, id);
  const now = ctx.clock.now();
  const changed: Target[] = [];
  const unchanged: string[] = [];
  await ctx.db.transaction().execute(async (trx) => {
    for (const t of targets) {
      const status = (state: 'Install Pending' | 'Removal Pending') =>
        setPackageStatus(trx, ctx.sink, {
          package: id,
          sourceVersion: pkg.source_version,
          site: t.site,
          dp: t.dp,
          state,
          error: null,
          updatedAt: now,
        });
      if (await act(trx, t, status)) changed.push(t);
      else unchanged.push(t.dp);
    }
    for (const site of new Set(changed.map((t) => t.site))) {
      const dps = changed.filter((t) => t.site === site).map((t) => t.dp);
      await postMessage(trx, ctx.sink, now, {
        severity: 'info',
        component: 'distmgr',
        text: `package ${id} ${verb} ${dps.join(', ')}`,
        package: id,
        subject: site,
      });
    }
  });
  ctx.wake.notify('distmgr');
  return { changed: changed.map((t) => t.dp), unchanged };
}

const isAssigned = async (trx: Db, id: string, dp: string) =>
  !!(await trx
    .selectFrom('assignments')
    .select('dp')
    .where('package_id', '=', id)
    .where('dp', '=', dp)
    .executeTakeFirst());

/** `dp assign`: distributes a package to DPs; each goes to Install Pending until its site reports Installed. */
export async function assignPackage(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  id: string,
  dps: string[],
): Promise<{ package: string; assigned: string[]; already: string[] }> {
  dps.forEach(parseDpName);
  await assertOrigin(ctx, id);
  const targets = await resolveDps(ctx, dps);
  const { changed, unchanged } = await changeDps(ctx, id, targets, 'assigned to', async (trx, t, status) => {
    if (await isAssigned(trx, id, t.dp)) return false;
    await trx
      .insertInto('assignments')
      .values({ package_id: id, dp: t.dp, site_code: t.site, created_at: ctx.clock.now() })
      .execute();
    await status('Install Pending');
    return true;
  });
  return { package: id, assigned: changed, already: unchanged };
}

/**
 * `dp redistribute`: sends a package to DPs again — after a job used up its retries (Install
 * Failed) or a DP's copy is in doubt. The jobs that gave up are cleared and what the child was
 * given is forgotten, so distmgr offers the package afresh; the child still receives only the
 * chunks it lacks. The assignment's redistribute count goes up and travels down with it, so each
 * site on the way does the same toward the next hop: a job that gave up further down runs again.
 */
export async function redistributePackage(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  id: string,
  dps: string[],
): Promise<{ package: string; redistributed: string[]; notAssigned: string[] }> {
  const targets = dps.map((d) => parseDpName(d));
  const { changed, unchanged } = await changeDps(
    ctx,
    id,
    targets,
    'redistributed to',
    async (trx, t, status) => {
      if (!(await isAssigned(trx, id, t.dp))) return false;
      await trx
        .updateTable('assignments')
        .set((eb) => ({ redistributions: eb('redistributions', '+', 1) }))
        .where('package_id', '=', id)
        .where('dp', '=', t.dp)
        .execute();
      await status('Install Pending');
      const child = t.site === ctx.config.code ? null : await nextHop(trx, ctx.config.code, t.site);
      if (child) await sendAgain(trx, child, id, ctx.clock.now());
      return true;
    },
  );
  return { package: id, redistributed: changed, notAssigned: unchanged };
}

/** `dp unassign`: takes a package off DPs; each goes Removal Pending until its site has removed it. */
export async function unassignPackage(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>,
  id: string,
  dps: string[],
): Promise<{ package: string; unassigned: string[]; notAssigned: string[] }> {
  const targets = dps.map((d) => parseDpName(d));
  const { changed, unchanged } = await changeDps(
    ctx,
    id,
    targets,
    'unassigned from',
    async (trx, t, status) => {
      const result = await trx
        .deleteFrom('assignments')
        .where('package_id', '=', id)
        .where('dp', '=', t.dp)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      // This site's own DP is removed by distmgr at once; a DP below reports its own removal.
      if (t.site !== ctx.config.code) await status('Removal Pending');
      return true;
    },
  );
  return { package: id, unassigned: changed, notAssigned: unchanged };
}

/** `dp list`: the DPs this site knows — each active site's default DP and the named DPs — with their package counts. */
export async function listDps(ctx: Pick<SiteContext, 'db'>, site?: string) {
  let q = ctx.db
    .selectFrom('sites')
    .select(['code', 'state', 'url', 'relation'])
    .where('state', '!=', 'deleted')
    .where('relation', '!=', 'parent');
  if (site) q = q.where('code', '=', site);
  const sites = await q.orderBy('code').execute();
  let named = ctx.db.selectFrom('dps').selectAll();
  if (site) named = named.where('site_code', '=', site);
  const namedRows = await named.execute();
  const counts = await ctx.db
    .selectFrom('package_status')
    .select(['dp', 'state', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['dp', 'state'])
    .execute();
  const countsOf = (dp: string) => {
    const mine = counts.filter((c) => c.dp === dp);
    return {
      packages: mine.reduce((sum, c) => sum + Number(c.n), 0),
      installed: mine.filter((c) => c.state === 'Installed').reduce((sum, c) => sum + Number(c.n), 0),
    };
  };
  const rows = sites.flatMap((s) => {
    const base = { site: s.code, siteState: s.state };
    return [
      { dp: s.code, ...base, name: null, url: s.url ? `${s.url}/dp/` : null, ...countsOf(s.code) },
      ...namedRows
        .filter((d) => d.site_code === s.code)
        .map((d) => {
          const name = d.dp.slice(s.code.length + 1);
          const url = d.url ?? (s.url ? `${s.url}${namedDpPath(name)}` : null);
          return { dp: d.dp, ...base, name, url, ...countsOf(d.dp) };
        }),
    ];
  });
  return rows.sort((a, b) => a.dp.localeCompare(b.dp));
}
