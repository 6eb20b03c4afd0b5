import type { SiteContext } from '../core/index.js';
import { cancelJobs, createJobs, type Job, type NewJob, OPEN_STATES } from '../jobs/index.js';
import { type ChildAction, type ChildState, diffChild, type JobTarget, type Target } from './diff.js';

type Db = SiteContext['db'];

/** What the diff needs of what a child was given: its deliveries and jobs, open and failed. */
export type Given = Omit<ChildState, 'want'>;

/** An action of the diff, and the child it is for. */
export interface ChildActionAt {
  child: string;
  action: ChildAction;
}

const jobTarget = (
  j: Pick<Job, 'kind' | 'package_id' | 'source_version' | 'dps' | 'attempts'>,
): JobTarget => ({
  kind: j.kind,
  package: j.package_id,
  sourceVersion: j.source_version,
  dps: JSON.parse(j.dps) as string[],
  started: j.attempts > 0,
});

const emptyGiven = (): Given => ({ delivered: new Map(), open: [], failed: [] });

/**
 * What was given to children, read for one child (`{ child }`) or for some packages at every child
 * (`{ packages }`), keyed by child.
 */
export async function readGiven(
  db: Db,
  where: { child: string } | { packages: string[] },
): Promise<Map<string, Given>> {
  const byChild = new Map<string, Given>();
  const of = (child: string) => {
    const given = byChild.get(child) ?? emptyGiven();
    byChild.set(child, given);
    return given;
  };
  const chunks = 'child' in where ? [null] : inChunks(where.packages);
  for (const chunk of chunks) {
    // Jobs first, then what was delivered: a job that completes between the two reads (in this
    // process or another sharing the database) writes its delivery in the same transaction, so it
    // is seen either still open or delivered, never as neither (which would make its job again).
    let jobs = db
      .selectFrom('jobs')
      .select(['site_code', 'kind', 'package_id', 'source_version', 'dps', 'attempts', 'state'])
      .where('state', 'in', [...OPEN_STATES, 'failed']);
    let deliveries = db.selectFrom('deliveries').selectAll();
    if (chunk) {
      jobs = jobs.where('package_id', 'in', chunk);
      deliveries = deliveries.where('package_id', 'in', chunk);
    } else if ('child' in where) {
      jobs = jobs.where('site_code', '=', where.child);
      deliveries = deliveries.where('site_code', '=', where.child);
    }
    for (const j of await jobs.execute())
      (j.state === 'failed' ? of(j.site_code).failed : of(j.site_code).open).push(jobTarget(j));
    for (const d of await deliveries.execute())
      of(d.site_code).delivered.set(d.package_id, {
        version: d.source_version,
        dps: JSON.parse(d.dps) as string[],
      });
  }
  return byChild;
}

/** Splits a list for `IN (…)` clauses of a size both databases take. */
export function inChunks<T>(items: T[], size = 500): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

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
  const given = (await readGiven(ctx.db, { child })).get(child) ?? emptyGiven();
  const actions = diffChild({ want, ...given }).map((action) => ({ child, action }));
  await applyActions(ctx, actions, now);
}

/**
 * Applies the diff's actions of any number of children: a transaction per batch, not per action
 * (each commit is a sync on SQLite), and in each one insert for all its new jobs. A clone of 10,000
 * assignments, or one package assigned to 500 children, makes its jobs in a few commits.
 */
export async function applyActions(
  ctx: Pick<SiteContext, 'db' | 'log' | 'transfers'>,
  actions: ChildActionAt[],
  now: number,
): Promise<void> {
  for (const batch of inChunks(actions, ACTIONS_PER_COMMIT)) {
    const made = await ctx.db.transaction().execute(async (trx) => {
      const jobs: NewJob[] = [];
      for (const { child, action } of batch) {
        const cancelled = action.cancelOpen
          ? await cancelJobs(
              trx,
              { site: child, package: action.package },
              'superseded by a newer assignment',
              now,
            )
          : [];
        for (const id of cancelled) ctx.transfers.abort(id, 'superseded');
        if (action.create) {
          const { kind, sourceVersion, dps } = action.create;
          jobs.push({ site: child, kind, package: action.package, sourceVersion, dps });
        }
      }
      const ids = await createJobs(trx, jobs, now);
      return jobs.map((job, i) => ({ job, id: ids[i] }));
    });
    for (const { job, id } of made)
      ctx
        .log('scheduler')
        .info(
          { job: id, peer: job.site, package: job.package, kind: job.kind },
          `job ${job.kind} ${job.package} to ${job.site}`,
        );
  }
}

const ACTIONS_PER_COMMIT = 500;
