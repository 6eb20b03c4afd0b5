import { isAbsolute } from 'node:path';
import { parseDuration } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { cloneDp, listAddresses, packageSizes } from '../replication/index.js';
import { assertNoChildSites, assertSiteCode, assertUrl, getSiteRow, parseDpName } from '../sites/index.js';
import {
  REBUILD_PATHS,
  type RebuildOptions,
  type RebuildPlan,
  type RebuildRequest,
  stepsFor,
} from './model.js';

export type PlanCtx = Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'wake'>;

/** The newest completed jobs a measured rate is taken from. */
const MEASURED_JOBS = 20;
/** Jobs that sent less than this say more about latency than about the link. */
const MEASURED_MIN_BYTES = 256 * 1024;

/** Checks the options as given (a request body or the command line); bad ones change nothing. */
export function checkOptions(o: RebuildRequest): RebuildOptions {
  const path = o.path ?? 'replace';
  if (!(REBUILD_PATHS as readonly string[]).includes(path))
    throw new OutpostError('OUTPOST_BAD_INPUT', `--path '${path}' is not known`, {
      hint: 'replace or readd',
    });
  for (const [flag, dir] of [
    ['--preload-from', o.preloadFrom],
    ['--export-to', o.exportTo],
  ] as const)
    if (dir !== undefined && (!isAbsolute(dir) || dir.includes('\n')))
      throw new OutpostError('OUTPOST_BAD_INPUT', `${flag} '${dir}' must be an absolute folder`);
  if (o.preloadFromDp !== undefined) {
    assertUrl(o.preloadFromDp, '--preload-from-dp');
    if (o.preloadFrom || o.exportTo)
      throw new OutpostError('OUTPOST_BAD_INPUT', 'name one preload source: a folder or a DP', {
        hint: '--preload-from DIR, --export-to DIR or --preload-from-dp URL',
      });
  }
  if (o.cloneFrom !== undefined) parseDpName(o.cloneFrom);
  if (o.joinDeadline !== undefined) parseDuration(o.joinDeadline, '--join-deadline');
  return {
    path: path as RebuildOptions['path'],
    ...(o.preloadFrom ? { preloadFrom: o.preloadFrom } : {}),
    ...(o.preloadFromDp ? { preloadFromDp: o.preloadFromDp } : {}),
    ...(o.exportTo ? { exportTo: o.exportTo } : {}),
    ...(o.cloneFrom ? { cloneFrom: o.cloneFrom } : {}),
    ...(o.joinDeadline ? { joinDeadline: o.joinDeadline } : {}),
  };
}

/** The site must be a joined child with no children of its own: a new, empty host could not serve those. */
async function rebuildableSite(ctx: PlanCtx, code: string) {
  const row = await getSiteRow(ctx.db, code);
  if (row.relation !== 'child')
    throw new OutpostError('OUTPOST_WRONG_PARENT', `site ${code} is not a child of ${ctx.config.code}`, {
      hint: row.parent_code ? `rebuild it at its parent, ${row.parent_code}` : undefined,
    });
  if ((row.state !== 'active' && row.state !== 'unreachable') || !row.generation)
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `site ${code} is ${row.state}, not a joined site to rebuild`,
      {
        hint: row.state === 'deleted' ? `add it again: outpost site add --code ${code}` : undefined,
      },
    );
  await assertNoChildSites(ctx.db, code);
  return { ...row, generation: row.generation };
}

/** The DP a preload URL names, if this site knows it: a site's own URL, or a named DP's. */
async function dpOfUrl(db: PlanCtx['db'], url: string): Promise<string | null> {
  const plain = url.replace(/\/+$/, '');
  const sites = await db
    .selectFrom('sites')
    .select(['code', 'url'])
    .where('state', '!=', 'deleted')
    .execute();
  for (const s of sites) {
    const base = s.url?.replace(/\/+$/, '');
    if (!base) continue;
    if (plain === base) return s.code;
    const named = plain.startsWith(`${base}/dps/`) ? plain.slice(base.length + 5) : null;
    if (named && /^[^/]+$/.test(named)) return `${s.code}/${named}`;
  }
  const dps = await db.selectFrom('dps').select(['dp', 'url']).execute();
  return dps.find((d) => d.url?.replace(/\/+$/, '') === plain)?.dp ?? null;
}

/** Package versions Installed (at the current version) on DP `dp`, or on any DP of site `site`. */
async function installedAt(db: PlanCtx['db'], where: { dp?: string; site?: string }): Promise<Set<string>> {
  let q = db
    .selectFrom('package_status')
    .innerJoin('packages', 'packages.id', 'package_status.package_id')
    .select('package_status.package_id')
    .where('package_status.state', '=', 'Installed')
    .whereRef('package_status.source_version', '=', 'packages.source_version');
  if (where.dp) q = q.where('package_status.dp', '=', where.dp);
  if (where.site) q = q.where('package_status.site_code', '=', where.site);
  return new Set((await q.execute()).map((r) => r.package_id));
}

/** Bytes a second sent to `site` by its newest completed jobs, from each job's creation to its end (a lower bound). */
async function measuredRate(db: PlanCtx['db'], site: string): Promise<number | null> {
  const jobs = await db
    .selectFrom('jobs')
    .select(['bytes_sent', 'created_at', 'updated_at'])
    .where('site_code', '=', site)
    .where('state', '=', 'completed')
    .where('bytes_sent', '>=', MEASURED_MIN_BYTES)
    .orderBy('updated_at', 'desc')
    .limit(MEASURED_JOBS)
    .execute();
  const bytes = jobs.reduce((s, j) => s + Number(j.bytes_sent), 0);
  const ms = jobs.reduce((s, j) => s + Math.max(1, Number(j.updated_at) - Number(j.created_at)), 0);
  return jobs.length ? Math.round((bytes * 1000) / ms) : null;
}

/**
 * `rebuild plan`: what a rebuild of child `code` would do, changing nothing — its steps, the bytes
 * the new host will lack after the named preload source (a folder is taken to hold what the old
 * host has Installed, a DP what is Installed on it), and how long sending them takes at the
 * link's rate limit, or else at the rate its recent jobs measured.
 */
export async function planRebuild(
  ctx: PlanCtx,
  input: string,
  options: RebuildOptions,
): Promise<RebuildPlan> {
  const code = assertSiteCode(input);
  const o = checkOptions(options);
  const site = await rebuildableSite(ctx, code);
  const current = new Map(
    (await ctx.db.selectFrom('packages').select(['id', 'source_version']).execute()).map((p) => [
      p.id,
      Number(p.source_version),
    ]),
  );
  const assignments = (
    await ctx.db
      .selectFrom('assignments')
      .select(['package_id', 'dp'])
      .where('site_code', '=', code)
      .orderBy('package_id')
      .orderBy('dp')
      .execute()
  ).map((a) => ({ package: a.package_id, dp: a.dp }));
  const wanted = new Set(assignments.map((a) => a.package));
  if (o.cloneFrom) {
    const clone = await cloneDp(ctx, { from: o.cloneFrom, to: code, dryRun: true });
    for (const id of clone.added) wanted.add(id);
  }
  let preloadSource: RebuildPlan['preloadSource'] = { kind: 'none', name: null, holds: 'nothing' };
  let held = new Set<string>();
  const dir = o.preloadFrom ?? o.exportTo;
  if (dir) {
    held = await installedAt(ctx.db, { site: code });
    preloadSource = { kind: 'folder', name: dir, holds: `what ${code} has Installed now` };
  } else if (o.preloadFromDp) {
    const dp = await dpOfUrl(ctx.db, o.preloadFromDp);
    if (dp) held = await installedAt(ctx.db, { dp });
    preloadSource = {
      kind: 'dp',
      name: o.preloadFromDp,
      holds: dp ? `what DP ${dp} has Installed now` : 'nothing known here (a DP this site does not know)',
    };
  }
  const sizes = await packageSizes(ctx.db);
  const ids = [...wanted].sort();
  const lacking = ids
    .filter((id) => !held.has(id))
    .map((id) => ({ package: id, sourceVersion: current.get(id) ?? 0, bytes: sizes.get(id) ?? 0 }));
  const bytesWanted = ids.reduce((s, id) => s + (sizes.get(id) ?? 0), 0);
  const bytesLacking = lacking.reduce((s, p) => s + p.bytes, 0);
  const address = (await listAddresses(ctx)).find((a) => a.site === code) ?? null;
  const limit = address?.rateLimitKiBps ? address.rateLimitKiBps * 1024 : null;
  const measured = await measuredRate(ctx.db, code);
  const used = limit ?? measured;
  return {
    site: code,
    type: site.type,
    url: site.url ?? '',
    name: site.name,
    path: o.path,
    oldGeneration: site.generation,
    preloadSource,
    packages: ids.length,
    bytesWanted,
    bytesFromPreload: bytesWanted - bytesLacking,
    bytesLacking,
    lacking,
    rate: {
      limitBytesPerSecond: limit,
      measuredBytesPerSecond: measured,
      basis: limit ? 'rate limit' : measured ? 'measured' : 'none',
    },
    seconds: used ? Math.ceil(bytesLacking / used) : null,
    address: address
      ? {
          rateLimitKiBps: address.rateLimitKiBps,
          schedule: address.schedule,
          concurrency: address.concurrency,
          retries: address.retries,
          retryDelayMs: address.retryDelayMs,
        }
      : null,
    assignments,
    steps: stepsFor(o),
  };
}
