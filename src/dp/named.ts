import type { SiteContext } from '../core/index.js';
import { dropDp } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { assertDpName, assertSiteCode, assertUrl, parseDpName } from '../sites/index.js';
import { postMessage, reportDp } from '../status/index.js';

/** Where a named DP of this site serves its packages on the site's own server. */
export function namedDpPath(name: string): string {
  return `/dps/${encodeURIComponent(name)}/`;
}

/**
 * Where DP `dp` of the site at `siteUrl` serves its packages, ending in `/`: the default DP under
 * `/dp/`, a named one at its own `url` when it has one, else under {@link namedDpPath}.
 */
export function dpBaseUrl(siteUrl: string, dp: string, url: string | null): string {
  const base = siteUrl.replace(/\/$/, '');
  const slash = dp.indexOf('/');
  if (slash < 0) return `${base}/dp/`;
  return url ? `${url.replace(/\/$/, '')}/` : `${base}${namedDpPath(dp.slice(slash + 1))}`;
}

/** A named DP must be added and removed at its own site: that site serves it and reports it up. */
function assertHere(ctx: Pick<SiteContext, 'config'>, site: string, verb: string): void {
  if (site !== ctx.config.code) {
    throw new OutpostError('OUTPOST_BAD_DP', `dp ${verb} for site ${site} must be sent to ${site} itself`, {
      hint: `run it against ${site}'s server (--server URL of ${site}, or --data on its host); ${ctx.config.code} learns of the DP from there`,
    });
  }
}

/**
 * `dp add`: a named DP of this site, `CODE/NAME`, served by this site's server under
 * `/dps/NAME/` from the same content library as its default DP, with its own installed packages and
 * status. `url` is where clients reach it (a proxy or alias in front); by default the site's own
 * URL and that path. The record goes up to every ancestor, where packages can then be assigned to it.
 */
export async function addDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink'>,
  input: { site: string; name: string; url?: string },
): Promise<{ dp: string; site: string; url: string }> {
  assertHere(ctx, assertSiteCode(input.site, 'DP site code'), 'add');
  const name = assertDpName(input.name);
  const url = input.url === undefined ? null : assertUrl(input.url, '--url');
  const dp = `${input.site}/${name}`;
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    if (await trx.selectFrom('dps').select('dp').where('dp', '=', dp).executeTakeFirst())
      throw new OutpostError('OUTPOST_DP_EXISTS', `DP ${dp} already exists`, {
        hint: 'pick another name, or dp remove it first',
      });
    await trx
      .insertInto('dps')
      .values({ dp, site_code: input.site, url, created_at: now, updated_at: now })
      .execute();
    await reportDp(trx, ctx.sink, { dp, site: input.site, url, removed: false, updatedAt: now });
    await postMessage(trx, ctx.sink, now, { severity: 'info', component: 'dp', text: `DP ${dp} added` });
  });
  return { dp, site: input.site, url: url ?? `${ctx.config.url}${namedDpPath(name)}` };
}

/**
 * `dp remove`: drops a named DP of this site with its assignments and status rows here, and reports
 * the removal up, where each ancestor drops them too (so the origins stop sending to it). A DP
 * that has assignments is refused unless `force`.
 */
export async function removeDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink'>,
  text: string,
  force: boolean,
): Promise<{ dp: string; assignments: number; statuses: number }> {
  const { site, dp, name } = parseDpName(text);
  if (name === null)
    throw new OutpostError('OUTPOST_BAD_DP', `DP ${dp} is the site's default DP and cannot be removed`, {
      hint: 'name a DP as CODE/NAME; a site goes with site delete',
    });
  assertHere(ctx, site, 'remove');
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    if (!(await trx.selectFrom('dps').select('dp').where('dp', '=', dp).executeTakeFirst()))
      throw new OutpostError('OUTPOST_DP_NOT_FOUND', `DP ${dp} does not exist`, { hint: 'see dp list' });
    const assigned = await trx
      .selectFrom('assignments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('dp', '=', dp)
      .executeTakeFirstOrThrow();
    if (Number(assigned.n) > 0 && !force)
      throw new OutpostError('OUTPOST_DP_HAS_ASSIGNMENTS', `DP ${dp} has ${assigned.n} assigned packages`, {
        hint: 'unassign them first, or pass --force to drop the assignments with the DP',
      });
    const removed = await dropDp(trx, dp);
    await reportDp(trx, ctx.sink, { dp, site, url: null, removed: true, updatedAt: now });
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'dp',
      text: `DP ${dp} removed with ${removed.assignments} assignments`,
    });
    return { dp, ...removed };
  });
}

/** Throws unless named DP `dp` (`CODE/NAME`) is known at this site. */
export async function assertDpKnown(ctx: Pick<SiteContext, 'config' | 'db'>, dp: string): Promise<void> {
  if (await ctx.db.selectFrom('dps').select('dp').where('dp', '=', dp).executeTakeFirst()) return;
  throw new OutpostError('OUTPOST_DP_NOT_FOUND', `DP ${dp} is not known at ${ctx.config.code}`, {
    hint: `add it with dp add at ${dp.split('/')[0]}; a DP added below appears here within seconds (dp list)`,
  });
}
