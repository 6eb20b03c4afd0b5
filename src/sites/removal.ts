import type { Kysely } from 'kysely';
import { assertSiteCode } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { type Database, dropSiteContent, forgetSite, type RemovedRows, totalRemoved } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { cancelJobs, createJob, OPEN_STATES } from '../jobs/index.js';
import { S2S, s2sJson } from '../s2s/index.js';
import { postMessage, reportPurge, reportSite } from '../status/index.js';
import { getSiteRow, nextHop, siteRecordOf } from './records.js';

type Db = Kysely<Database>;

/** What `site delete` removes (or, with --dry-run, would remove). */
export interface DeleteSummary {
  site: string;
  dryRun: boolean;
  sites: string[];
  jobs: { id: string; kind: string; package: string | null; state: string }[];
  assignments: { package: string; dp: string }[];
  statuses: number;
  bytesQueued: number;
  address: boolean;
  /** What the deleted site itself was told: stopped and deinstalled, or why not. */
  told: string;
}

/** Every site below `code` that this site knows, deepest last. */
async function descendantsOf(db: Db, code: string): Promise<string[]> {
  const rows = await db.selectFrom('sites').select(['code', 'parent_code', 'state']).execute();
  const out: string[] = [];
  const walk = (parent: string) => {
    for (const r of rows) {
      if (r.parent_code === parent && r.state !== 'deleted' && !out.includes(r.code)) {
        out.push(r.code);
        walk(r.code);
      }
    }
  };
  walk(code);
  return out;
}

/**
 * `site delete`: in one transaction, cancels every job to the site, drops its address, DP
 * assignments, package status and what was delivered to it, and marks it deleted (the ancestors
 * are told through the status outbox). Transfers in flight are aborted before this returns, so not
 * one more byte is sent to it. A reachable site is told to stop and deinstall.
 */
export async function deleteSite(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'identity' | 'log' | 'sink' | 'transfers' | 'wake'>,
  input: { code: string; recursive?: boolean; dryRun?: boolean },
): Promise<DeleteSummary> {
  const code = assertSiteCode(input.code);
  const row = await getSiteRow(ctx.db, code);
  if (row.relation === 'self' || row.relation === 'parent') {
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `site ${code} is this site or its parent and cannot be deleted here`,
    );
  }
  if (row.relation !== 'child') {
    throw new OutpostError('OUTPOST_WRONG_PARENT', `site ${code} is not a child of ${ctx.config.code}`, {
      hint: `delete it at its parent, ${row.parent_code}`,
    });
  }
  const below = await descendantsOf(ctx.db, code);
  if (below.length > 0 && !input.recursive) {
    throw new OutpostError('OUTPOST_SITE_HAS_CHILDREN', `site ${code} has child sites: ${below.join(', ')}`, {
      hint: 'delete them first, or use --recursive',
    });
  }
  const sites = [code, ...below];
  const jobs = await ctx.db
    .selectFrom('jobs')
    .selectAll()
    .where('site_code', '=', code)
    .where('state', 'in', OPEN_STATES)
    .execute();
  const assignments = await ctx.db
    .selectFrom('assignments')
    .select(['package_id', 'dp'])
    .where('site_code', 'in', sites)
    .execute();
  const statuses = await ctx.db
    .selectFrom('package_status')
    .select('dp')
    .where('site_code', 'in', sites)
    .execute();
  const address = await ctx.db
    .selectFrom('addresses')
    .select('site_code')
    .where('site_code', '=', code)
    .executeTakeFirst();
  const summary: DeleteSummary = {
    site: code,
    dryRun: !!input.dryRun,
    sites,
    jobs: jobs.map((j) => ({ id: j.id, kind: j.kind, package: j.package_id, state: j.state })),
    assignments: assignments.map((a) => ({ package: a.package_id, dp: a.dp })),
    statuses: statuses.length,
    bytesQueued: jobs.reduce((sum, j) => sum + Math.max(0, j.bytes_total - j.bytes_sent), 0),
    address: !!address,
    told: 'not asked',
  };
  if (input.dryRun || row.state === 'deleted')
    return { ...summary, told: row.state === 'deleted' ? 'already deleted' : 'not asked' };

  const now = ctx.clock.now();
  const cancelled = await ctx.db.transaction().execute(async (trx) => {
    const ids = await cancelJobs(trx, { site: code }, `site ${code} was deleted`, now);
    await trx.deleteFrom('addresses').where('site_code', '=', code).execute();
    for (const site of sites) {
      await dropSiteContent(trx, site);
      const current = await getSiteRow(trx, site);
      const update = {
        state: 'deleted' as const,
        join_token_hash: null,
        join_expires_at: null,
        error: null,
        updated_at: now,
      };
      await trx.updateTable('sites').set(update).where('code', '=', site).execute();
      await reportSite(trx, ctx.sink, siteRecordOf({ ...current, ...update }));
    }
    await postMessage(trx, ctx.sink, now, {
      severity: 'warning',
      component: 'hierman',
      text: `site ${sites.join(', ')} deleted: ${ids.length} jobs cancelled, ${assignments.length} assignments and ${statuses.length} package statuses removed`,
      subject: code,
    });
    return ids;
  });
  await ctx.transfers.abortJobs(cancelled, `cancelled: site ${code} was deleted`);
  ctx.wake.notify('distmgr');
  ctx.log('hierman').warn({ peer: code, jobs: cancelled.length }, 'site deleted');

  if (row.state !== 'pending' && row.state !== 'failed' && row.url) {
    try {
      await s2sJson(ctx.identity, row.url, 'POST', S2S.deinstall, { site: code }, AbortSignal.timeout(3000));
      summary.told = 'stopped and deinstalled';
    } catch (err) {
      summary.told = `not reached: ${(err as Error).message}`;
    }
  }
  return summary;
}

/**
 * The deleted site's side of a deinstall: its own child sites go too (a delete that reaches a site
 * with children was recursive), each told before this site stops. Best effort: a child that cannot
 * be reached is left to its own watch.
 */
export async function deinstallChildren(
  ctx: Pick<SiteContext, 'db' | 'identity' | 'log'>,
): Promise<string[]> {
  const children = await ctx.db
    .selectFrom('sites')
    .select(['code', 'url'])
    .where('relation', '=', 'child')
    .where('state', 'in', ['installing', 'active', 'unreachable'])
    .execute();
  const told: string[] = [];
  await Promise.all(
    children.map(async (child) => {
      if (!child.url) return;
      try {
        await s2sJson(
          ctx.identity,
          child.url,
          'POST',
          S2S.deinstall,
          { site: child.code },
          AbortSignal.timeout(3000),
        );
        told.push(child.code);
      } catch (err) {
        ctx
          .log('hierman')
          .warn(
            { peer: child.code, err: (err as Error).message },
            'could not tell a child site to deinstall',
          );
      }
    }),
  );
  return told;
}

export interface PurgeSummary {
  site: string;
  /** True when nothing was removed: `removed` and `queuedAt` say what a purge would do. */
  dryRun: boolean;
  removed: RemovedRows;
  /** Where the same purge was queued: 'parent' (the outbox) and/or the child site on the way to it. */
  queuedAt: string[];
}

/** Carries a dry run's counts out of the transaction it rolls back. */
class RolledBack extends Error {
  constructor(readonly removed: RemovedRows) {
    super('dry run');
  }
}

/** Has this site ever heard of `code`: a message about it, or a purge of it sent on? */
async function heardOf(db: Db, code: string): Promise<boolean> {
  const message = await db
    .selectFrom('status_messages')
    .select('seq')
    .where('subject_site', '=', code)
    .limit(1)
    .executeTakeFirst();
  if (message) return true;
  const job = await db
    .selectFrom('jobs')
    .select('id')
    .where('subject', '=', code)
    .limit(1)
    .executeTakeFirst();
  return !!job;
}

/**
 * `site purge`: the repair for an inconsistent database (the Preinst /DELSITE of SMS). Removes every
 * row naming `code` in whatever state, aborts its transfers, and queues the same purge at the
 * ancestors and at the child it lies under. Running it again removes nothing and queues nothing.
 * With `dryRun` it removes nothing and says what it would; with `mustBeKnown` (an administrator's
 * purge, not one passed on by another site) a code this site has never heard of is not found.
 */
export async function purgeSite(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'transfers' | 'wake'>,
  input: { code: string; dryRun?: boolean; mustBeKnown?: boolean },
): Promise<PurgeSummary> {
  const code = assertSiteCode(input.code);
  if (code === ctx.config.code || code === ctx.config.parent?.code) {
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `site ${code} is this site or its parent and cannot be purged here`,
    );
  }
  const hop = await nextHop(ctx.db, ctx.config.code, code, true);
  const queueAt = (removed: RemovedRows): string[] =>
    totalRemoved(removed) === 0
      ? []
      : [
          ...(ctx.sink.hasParent ? [ctx.config.parent?.code ?? 'parent'] : []),
          ...(hop && hop !== code ? [hop] : []),
        ];
  const assertKnown = async (removed: RemovedRows) => {
    if (input.mustBeKnown && totalRemoved(removed) === 0 && !(await heardOf(ctx.db, code)))
      throw new OutpostError('OUTPOST_SITE_NOT_FOUND', `site ${code} is not known here`, {
        hint: 'outpost site list shows the sites this site knows',
      });
  };
  if (input.dryRun) {
    const removed = await ctx.db
      .transaction()
      .execute(async (trx) => {
        throw new RolledBack(await forgetSite(trx, code));
      })
      .catch((err: unknown) => {
        if (err instanceof RolledBack) return err.removed;
        throw err;
      });
    await assertKnown(removed);
    return { site: code, dryRun: true, removed, queuedAt: queueAt(removed) };
  }
  const now = ctx.clock.now();
  const jobIds = (await ctx.db.selectFrom('jobs').select('id').where('site_code', '=', code).execute()).map(
    (j) => j.id,
  );
  const result = await ctx.db.transaction().execute(async (trx) => {
    const removed = await forgetSite(trx, code);
    const queuedAt = queueAt(removed);
    if (totalRemoved(removed) > 0) {
      // Even a purge the parent sent goes back up: until it arrived here, this site may have reported
      // the site again, and the ancestors must forget that too.
      if (ctx.sink.hasParent) await reportPurge(trx, ctx.sink, code, now);
      if (hop && hop !== code) {
        await createJob(
          trx,
          { site: hop, kind: 'purge', package: null, subject: code, sourceVersion: null, dps: [] },
          now,
        );
      }
      await postMessage(trx, ctx.sink, now, {
        severity: 'warning',
        component: 'hierman',
        text: `site ${code} purged: ${Object.entries(removed)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ')} removed`,
        subject: code,
      });
    }
    return { site: code, dryRun: false, removed, queuedAt };
  });
  // Nothing was removed, so refusing now changes nothing either.
  await assertKnown(result.removed);
  await ctx.transfers.abortJobs(jobIds, `purged with site ${code}`);
  ctx.wake.notify('distmgr');
  ctx.wake.notify('sender');
  return result;
}
