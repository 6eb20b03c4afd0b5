import type { Kysely, Selectable } from 'kysely';
import type { Database, RebuildStepState, RebuildStepsTable, RebuildsTable } from '../db/index.js';
import type { RebuildOptions, RebuildPlan, RebuildView, StepDef, StepKey, StepView } from './model.js';

type Db = Kysely<Database>;
export type RebuildRow = Selectable<RebuildsTable>;
export type StepRow = Selectable<RebuildStepsTable>;

/**
 * Every change to a step is one guarded statement: it names the states the step may leave and
 * applies only while its rebuild is running, so a step that moved on (or a rebuild aborted) in the
 * meantime is left alone and the caller learns it from the answer (false).
 */
async function move(
  db: Db,
  id: string,
  step: StepKey,
  from: RebuildStepState[],
  set: Partial<Omit<StepRow, 'rebuild_id' | 'step'>>,
): Promise<boolean> {
  const r = await db
    .updateTable('rebuild_steps')
    .set(set)
    .where('rebuild_id', '=', id)
    .where('step', '=', step)
    .where('state', 'in', from)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('rebuilds')
          .select('rebuilds.id')
          .where('rebuilds.id', '=', id)
          .where('rebuilds.state', '=', 'running'),
      ),
    )
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** pending → running. */
export const beginStep = (db: Db, id: string, step: StepKey, now: number) =>
  move(db, id, step, ['pending'], { state: 'running', started_at: now, error: null });

/** running → running with news of its progress (an automatic step waiting on a condition). */
export const progressStep = (db: Db, id: string, step: StepKey, detail: string) =>
  move(db, id, step, ['running'], { detail });

/** running → waiting: a person must act; `next` says what. */
export const waitStep = (db: Db, id: string, step: StepKey, detail: string, next: string, output?: unknown) =>
  move(db, id, step, ['running', 'waiting'], {
    state: 'waiting',
    detail,
    next,
    ...(output === undefined ? {} : { output: JSON.stringify(output) }),
  });

/** running or waiting → done. */
export const finishStep = (
  db: Db,
  id: string,
  step: StepKey,
  now: number,
  detail: string,
  output?: unknown,
) =>
  move(db, id, step, ['running', 'waiting'], {
    state: 'done',
    finished_at: now,
    detail,
    next: null,
    ...(output === undefined ? {} : { output: JSON.stringify(output) }),
  });

/** running → failed. */
export const failStep = (db: Db, id: string, step: StepKey, now: number, error: string) =>
  move(db, id, step, ['running'], { state: 'failed', finished_at: now, error });

/** failed → pending, to run again (`rebuild resume`). */
export const retryStep = (db: Db, id: string, step: StepKey) =>
  move(db, id, step, ['failed'], { state: 'pending', finished_at: null });

/** waiting or failed → done on the administrator's word (`rebuild resume --done STEP`). */
export const confirmStep = (db: Db, id: string, step: StepKey, now: number, detail: string) =>
  move(db, id, step, ['waiting', 'failed'], { state: 'done', finished_at: now, next: null, detail });

async function moveRebuild(db: Db, id: string, to: 'done' | 'aborted', now: number): Promise<boolean> {
  const r = await db
    .updateTable('rebuilds')
    .set({ state: to, updated_at: now })
    .where('id', '=', id)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** running → done. */
export const finishRebuild = (db: Db, id: string, now: number) => moveRebuild(db, id, 'done', now);
/** running → aborted. */
export const abortRebuildRow = (db: Db, id: string, now: number) => moveRebuild(db, id, 'aborted', now);

/** Records a new running rebuild and its steps, all pending. */
export async function insertRebuild(
  db: Db,
  r: { id: string; site: string; options: RebuildOptions; plan: RebuildPlan; now: number },
): Promise<void> {
  await db
    .insertInto('rebuilds')
    .values({
      id: r.id,
      site_code: r.site,
      state: 'running',
      options: JSON.stringify(r.options),
      plan: JSON.stringify(r.plan),
      created_at: r.now,
      updated_at: r.now,
    })
    .execute();
  await db
    .insertInto('rebuild_steps')
    .values(
      r.plan.steps.map((s, i) => ({
        rebuild_id: r.id,
        step: s.step,
        ordinal: i,
        frame: s.frame,
        kind: s.kind,
        state: 'pending' as const,
        started_at: null,
        finished_at: null,
        detail: null,
        next: null,
        error: null,
        output: null,
      })),
    )
    .execute();
}

/** The running rebuild of `site`, if any. */
export function runningRebuild(db: Db, site: string): Promise<RebuildRow | undefined> {
  return db
    .selectFrom('rebuilds')
    .selectAll()
    .where('site_code', '=', site)
    .where('state', '=', 'running')
    .executeTakeFirst();
}

/** The newest rebuild of `site`, whatever its state. */
export function latestRebuild(db: Db, site: string): Promise<RebuildRow | undefined> {
  return db
    .selectFrom('rebuilds')
    .selectAll()
    .where('site_code', '=', site)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
}

export function stepsOf(db: Db, id: string): Promise<StepRow[]> {
  return db.selectFrom('rebuild_steps').selectAll().where('rebuild_id', '=', id).orderBy('ordinal').execute();
}

/** The runbook as the API shows it. */
export function viewOf(r: RebuildRow, rows: StepRow[]): RebuildView {
  const plan = JSON.parse(r.plan) as RebuildPlan;
  const defs = new Map<string, StepDef>(plan.steps.map((s) => [s.step, s]));
  const steps: StepView[] = rows.map((s) => ({
    step: s.step as StepKey,
    frame: s.frame as StepDef['frame'],
    kind: s.kind,
    title: defs.get(s.step)?.title ?? s.step,
    state: s.state,
    startedAt: s.started_at === null ? null : Number(s.started_at),
    finishedAt: s.finished_at === null ? null : Number(s.finished_at),
    detail: s.detail,
    next: s.next,
    error: s.error,
  }));
  const open = steps.find((s) => s.state !== 'done');
  const next =
    r.state !== 'running'
      ? null
      : !open
        ? null
        : open.state === 'failed'
          ? `step ${open.step} failed: ${open.error}; fix the cause, then: outpost rebuild resume ${r.site_code} (or --done ${open.step} to go on without it)`
          : (open.next ?? `${open.title}: ${open.detail ?? open.state}`);
  const join = rows.find((s) => s.step === 'join');
  const tokens = [join, ...rows.filter((s) => s.step === 'replace' || s.step === 'add')]
    .map((s) => (s?.output ? (JSON.parse(s.output) as { joinToken?: string }).joinToken : undefined))
    .filter((t) => t !== undefined);
  const joinToken = r.state === 'running' && join?.state !== 'done' ? (tokens[0] ?? null) : null;
  return {
    id: r.id,
    site: r.site_code,
    state: r.state,
    options: JSON.parse(r.options) as RebuildOptions,
    plan,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    steps,
    next,
    joinToken,
  };
}
