import type { SiteContext } from '../core/index.js';
import { cancelJobs, createJob, type Job, OPEN_STATES } from '../jobs/index.js';
import { type ChildAction, diffChild, type JobTarget, type Target } from './diff.js';

const jobTarget = (
  j: Pick<Job, 'kind' | 'package_id' | 'source_version' | 'dps' | 'attempts'>,
): JobTarget => ({
  kind: j.kind,
  package: j.package_id,
  sourceVersion: j.source_version,
  dps: JSON.parse(j.dps) as string[],
  started: j.attempts > 0,
});

/**
 * The scheduler for one child: reads what it was given and its jobs, diffs that against `want`,
 * and applies the actions in batched transactions, aborting transfers they supersede.
 */
export async function scheduleChild(
  ctx: Pick<SiteContext, 'db' | 'log' | 'transfers'>,
  child: string,
  want: Map<string, Target>,
  now: number,
): Promise<void> {
  // Jobs first, then what was delivered: a job that completes between the two reads (in this
  // process or another sharing the database) writes its delivery in the same transaction, so it is
  // seen either still open or delivered, never as neither (which would make its job again).
  const jobs = await ctx.db
    .selectFrom('jobs')
    .select(['kind', 'package_id', 'source_version', 'dps', 'attempts', 'state'])
    .where('site_code', '=', child)
    .where('state', 'in', [...OPEN_STATES, 'failed'])
    .execute();
  const delivered = new Map(
    (await ctx.db.selectFrom('deliveries').selectAll().where('site_code', '=', child).execute()).map((d) => [
      d.package_id,
      { version: d.source_version, dps: JSON.parse(d.dps) as string[] },
    ]),
  );
  const actions = diffChild({
    want,
    delivered,
    open: jobs.filter((j) => j.state !== 'failed').map(jobTarget),
    failed: jobs.filter((j) => j.state === 'failed').map(jobTarget),
  });
  // A transaction per batch of actions, not per action: a clone of 10,000 assignments makes its
  // 10,000 jobs in a few dozen commits (each a sync on SQLite).
  for (let i = 0; i < actions.length; i += ACTIONS_PER_COMMIT) {
    const batch = actions.slice(i, i + ACTIONS_PER_COMMIT);
    await ctx.db.transaction().execute(async (trx) => {
      for (const action of batch) await applyAction(trx, ctx, child, action, now);
    });
  }
}

const ACTIONS_PER_COMMIT = 250;

async function applyAction(
  trx: SiteContext['db'],
  ctx: Pick<SiteContext, 'log' | 'transfers'>,
  child: string,
  action: ChildAction,
  now: number,
): Promise<void> {
  const cancelled = action.cancelOpen
    ? await cancelJobs(trx, { site: child, package: action.package }, 'superseded by a newer assignment', now)
    : [];
  for (const id of cancelled) ctx.transfers.abort(id, 'superseded');
  if (!action.create) return;
  const { kind, sourceVersion, dps } = action.create;
  const id = await createJob(trx, { site: child, kind, package: action.package, sourceVersion, dps }, now);
  ctx
    .log('scheduler')
    .info(
      { job: id, peer: child, package: action.package, kind },
      `job ${kind} ${action.package} to ${child}`,
    );
}
