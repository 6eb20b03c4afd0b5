import type { Kysely, Selectable } from 'kysely';
import { assertSiteCode, formatDuration } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import type { Database, SitesTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { cancelJobs } from '../jobs/index.js';
import { postMessage, setInstallPending } from '../status/index.js';
import { hashToken, newJoinToken } from './codes.js';
import { DEFAULT_JOIN_DEADLINE_MS } from './hierman.js';
import { getSiteRow } from './records.js';

type Db = Kysely<Database>;
type SiteRow = Selectable<SitesTable>;

/** The states of a site that has joined and may be replaced: its old host serves it until the new one joins. */
const REPLACEABLE = ['active', 'unreachable'] as const;

export interface ReplaceSiteResult {
  code: string;
  type: string;
  parent: string;
  url: string;
  /** The generation that is fenced once the new host joins. */
  generation: string;
  joinToken: string;
  joinDeadline: string;
  expiresAt: number;
}

/** Whether `row` is a joined site waiting for new hardware: it holds a join token although it has joined. */
export function isBeingReplaced(row: Pick<SiteRow, 'state' | 'join_token_hash'>): boolean {
  return (REPLACEABLE as readonly string[]).includes(row.state) && row.join_token_hash !== null;
}

/**
 * Refuses new hardware for a site with child sites: the children trust the old host's key and
 * generation, and only the old host's database knows them, so a new, empty host could not serve them.
 */
export async function assertNoChildSites(db: Db, code: string): Promise<void> {
  const below = await db
    .selectFrom('sites')
    .select('code')
    .where('parent_code', '=', code)
    .where('state', '!=', 'deleted')
    .execute();
  if (below.length > 0)
    throw new OutpostError(
      'OUTPOST_SITE_HAS_CHILDREN',
      `site ${code} has child sites (${below.map((b) => b.code).join(', ')}); new hardware would not know them`,
      {
        hint: `restore ${code}'s data directory on the new hardware instead, or delete its children first`,
      },
    );
}

/**
 * `site replace`: a join token for new hardware of a child that has joined. Nothing else changes
 * yet: the old host keeps serving the branch (and its signed requests are accepted) until the new
 * host registers with the token; then the old generation is fenced (see {@link takeOverSite}).
 */
export async function replaceSite(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink'>,
  input: { code: string; joinDeadlineMs?: number },
): Promise<ReplaceSiteResult> {
  const code = assertSiteCode(input.code);
  const row = await getSiteRow(ctx.db, code);
  if (row.relation === 'self' || row.relation === 'parent')
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `site ${code} is this site or its parent and cannot be replaced here`,
    );
  if (row.relation !== 'child')
    throw new OutpostError('OUTPOST_WRONG_PARENT', `site ${code} is not a child of ${ctx.config.code}`, {
      hint: `replace it at its parent, ${row.parent_code}`,
    });
  if (!(REPLACEABLE as readonly string[]).includes(row.state) || !row.generation)
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `site ${code} is ${row.state}, not a joined site whose hardware can be replaced`,
      {
        hint:
          row.state === 'deleted'
            ? `add it again: outpost site add --code ${code}`
            : `delete it and add it again: outpost site delete ${code}`,
      },
    );
  await assertNoChildSites(ctx.db, code);
  const deadline = input.joinDeadlineMs ?? DEFAULT_JOIN_DEADLINE_MS;
  if (!(deadline >= 1000)) throw new OutpostError('OUTPOST_BAD_INPUT', '--join-deadline must be at least 1s');
  const now = ctx.clock.now();
  const joinToken = newJoinToken(code);
  await ctx.db.transaction().execute(async (trx) => {
    // The new host's install gets a timeline of its own.
    await trx.deleteFrom('site_phases').where('site_code', '=', code).execute();
    await trx
      .updateTable('sites')
      .set({
        join_token_hash: hashToken(joinToken),
        join_expires_at: now + deadline,
        join_deadline_ms: deadline,
        updated_at: now,
      })
      .where('code', '=', code)
      .execute();
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'hierman',
      text: `replacement of site ${code} prepared: new hardware may join within ${formatDuration(deadline)}; generation ${row.generation} serves until then`,
      subject: code,
    });
  });
  ctx.log('hierman').info({ peer: code }, 'replacement prepared, waiting for the new host to join');
  return {
    code,
    type: row.type,
    parent: ctx.config.code,
    url: row.url ?? '',
    generation: row.generation,
    joinToken,
    joinDeadline: formatDuration(deadline),
    expiresAt: now + deadline,
  };
}

/**
 * Withdraws the join token of a replacement whose new host has not joined: the old host, which
 * kept serving, stays the site's host. Returns whether there was one to withdraw.
 */
export async function cancelReplace(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'sink'>,
  code: string,
  why: string,
): Promise<boolean> {
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('sites')
      .set({ join_token_hash: null, join_expires_at: null, updated_at: now })
      .where('code', '=', code)
      .where('relation', '=', 'child')
      .where('state', 'in', REPLACEABLE)
      .where('join_token_hash', 'is not', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'hierman',
      text: `replacement of site ${code} withdrawn (${why}): its join token no longer works; the current host stays`,
      subject: code,
    });
    return true;
  });
}

/**
 * The new host of a site being replaced has registered (in the transaction that records its key
 * and generation, which fences the old one): the jobs to the old host are cancelled, what it was
 * given is forgotten so distmgr offers every assigned package to the new host (which answers with
 * the chunks it lacks: all of them on an empty library, none after a preload), and its DPs' status
 * says Install Pending until the new host reports. Returns the jobs to abort.
 */
export async function takeOverSite(
  trx: Db,
  ctx: Pick<SiteContext, 'sink'>,
  row: SiteRow,
  generation: string,
  now: number,
): Promise<string[]> {
  const code = row.code;
  const cancelled = await cancelJobs(trx, { site: code }, `site ${code} was replaced`, now);
  await trx.deleteFrom('jobs').where('site_code', '=', code).where('state', '=', 'failed').execute();
  await trx.deleteFrom('deliveries').where('site_code', '=', code).execute();
  const statuses = await trx
    .selectFrom('package_status')
    .select(['package_id', 'source_version', 'dp'])
    .where('site_code', '=', code)
    .execute();
  for (const s of statuses)
    await setInstallPending(
      trx,
      ctx.sink,
      { package: s.package_id, sourceVersion: s.source_version, site: code, dp: s.dp },
      now,
    );
  await postMessage(trx, ctx.sink, now, {
    severity: 'warning',
    component: 'hierman',
    text: `site ${code} replaced: generation ${row.generation} fenced, new generation ${generation} registered; ${statuses.length} package statuses Install Pending until the new host reports, ${cancelled.length} jobs to the old host cancelled`,
    subject: code,
  });
  return cancelled;
}
