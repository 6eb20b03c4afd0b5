import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { S2S, s2sJson } from '../s2s/index.js';
import { assertSiteCode, nextHop } from '../sites/index.js';
import { dpChecks } from './dp.js';
import { linkChecks, type Neighbour } from './links.js';
import { diskCheck, jobsCheck } from './local.js';
import { check, type DoctorCheck, type DoctorResult, resultOf } from './model.js';
import { mpChecks } from './mp.js';

/**
 * How long a site below may take to run its checks and answer: inside the minute the site-to-site
 * client waits for an answer's headers. Its own calls are bounded; `--full` of a large library may
 * need longer, and is then run at that site itself.
 */
const FORWARD_MS = 55_000;

type Ctx = Pick<SiteContext, 'clock' | 'config' | 'db' | 'identity' | 'paths' | 'settings' | 'store'>;

/** This site's parent and children as it holds them; a child is reached at its address's URL, as the sender does. */
async function neighbours(ctx: Pick<SiteContext, 'config' | 'db'>): Promise<Neighbour[]> {
  const rows = await ctx.db
    .selectFrom('sites')
    .leftJoin('addresses', 'addresses.site_code', 'sites.code')
    .select([
      'sites.code',
      'sites.relation',
      'sites.url',
      'sites.state',
      'sites.generation',
      'sites.public_key',
      'addresses.url as address',
    ])
    .where('sites.relation', 'in', ['parent', 'child'])
    .orderBy('sites.code')
    .execute();
  const out: Neighbour[] = [];
  for (const r of rows) {
    const url = r.relation === 'child' ? (r.address ?? r.url) : (ctx.config.parent?.url ?? r.url);
    // A child not joined yet, or deleted, holds no link to check.
    if (!url || (r.relation === 'child' && (r.state === 'deleted' || !r.generation))) continue;
    out.push({
      code: r.code,
      relation: r.relation === 'parent' ? 'parent' : 'child',
      url,
      generation: r.generation,
      publicKey: r.public_key,
    });
  }
  return out;
}

/** The checks of this site itself: its MP, DPs, links to its parent and children, disk and jobs. */
async function localChecks(ctx: Ctx, full: boolean): Promise<DoctorCheck[]> {
  const links = (await neighbours(ctx)).map((n) => linkChecks(ctx, n));
  const [mp, dp, disk, jobs, ...linked] = await Promise.all([
    mpChecks(ctx),
    dpChecks(ctx, full),
    diskCheck(ctx),
    jobsCheck(ctx),
    ...links,
  ]);
  const all = [...mp, ...dp, ...linked.flat(), disk, ...jobs];
  const order = ['mp', 'dp', 'senders', 'keys', 'disk', 'clock', 'jobs'];
  return all.sort((a, b) => order.indexOf(a.check) - order.indexOf(b.check));
}

/**
 * `doctor`: the checks of this site, or of `site` below it. A site below is asked through the
 * child on the way, hop by hop over signed site-to-site calls; each site on the way adds its own
 * view of the link to the next (sender, keys, clock) to the answer. A site that is not this one
 * nor below it is refused.
 */
export async function runDoctor(ctx: Ctx, input: { site?: string; full?: boolean }): Promise<DoctorResult> {
  const self = ctx.config.code;
  const site = input.site === undefined ? self : assertSiteCode(input.site, '--site');
  const full = input.full ?? false;
  if (site === self) return resultOf(self, await localChecks(ctx, full));
  const hop = await nextHop(ctx.db, self, site);
  if (hop === null)
    throw new OutpostError('OUTPOST_SITE_NOT_FOUND', `site ${site} is not ${self} or a site below it`, {
      hint: `outpost site list shows the sites ${self} knows; run doctor against a site above ${site}`,
    });
  const peer = (await neighbours(ctx)).find((n) => n.code === hop && n.relation === 'child');
  if (!peer)
    throw new OutpostError(
      'OUTPOST_SITE_NOT_FOUND',
      `${site} is reached through ${hop}, which has not joined`,
      {
        hint: `outpost site show ${hop}`,
      },
    );
  const link = await linkChecks(ctx, peer);
  // A key this site holds wrongly for the child does not stop the child from taking its request.
  if (link.some((c) => c.check === 'senders' && c.verdict === 'fail')) {
    const detail = `${hop} could not be asked for the checks of ${site}: the link from ${self} fails`;
    return resultOf(site, [
      ...link,
      check('senders', site, 'fail', detail, `fix the link ${self} -> ${hop} first`),
    ]);
  }
  const signal = AbortSignal.timeout(FORWARD_MS);
  try {
    const below = await s2sJson<DoctorResult>(
      ctx.identity,
      peer.url,
      'POST',
      S2S.doctor,
      { site, full },
      signal,
    );
    return resultOf(site, [...link, ...below.checks]);
  } catch (err) {
    const detail = signal.aborted
      ? `${hop} did not answer with the checks of ${site} within ${FORWARD_MS / 1000}s`
      : `${hop} could not run the checks of ${site}: ${(err as Error).message}`;
    const hint = signal.aborted
      ? `run outpost doctor${full ? ' --full' : ''} at ${site} itself (--server its URL, or --data on its host)`
      : `outpost logs hierman --site ${hop}`;
    return resultOf(site, [...link, check('senders', site, 'fail', detail, hint)]);
  }
}
