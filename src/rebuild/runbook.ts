import { randomUUID } from 'node:crypto';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { holdLink, listNotInstalled, type NotInstalled, redistributePackage } from '../replication/index.js';
import { assertSiteCode, cancelReplace, getSiteRow } from '../sites/index.js';
import { postMessage, type Severity } from '../status/index.js';
import type { RebuildOptions, RebuildPlan, RebuildRequest, RebuildView, StepKey } from './model.js';
import { checkOptions, planRebuild } from './plan.js';
import { type RunCtx, STEP_RUNNERS, type StepInput } from './steps.js';
import {
  abortRebuildRow,
  beginStep,
  confirmStep,
  failStep,
  finishRebuild,
  finishStep,
  insertRebuild,
  latestRebuild,
  progressStep,
  type RebuildRow,
  retryStep,
  runningRebuild,
  type StepRow,
  stepsOf,
  viewOf,
  waitStep,
} from './store.js';

/** One runner per site at a time in this process: the loop, start, resume and status take turns. */
const turns = new Map<string, Promise<unknown>>();

function inTurn<T>(site: string, work: () => Promise<T>): Promise<T> {
  const before = turns.get(site) ?? Promise.resolve();
  const mine = before.then(work, work);
  const settled = mine.catch(() => undefined);
  turns.set(site, settled);
  void settled.then(() => {
    if (turns.get(site) === settled) turns.delete(site);
  });
  return mine;
}

async function say(ctx: RunCtx, site: string, severity: Severity, text: string): Promise<void> {
  await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
    severity,
    component: 'rebuild',
    text,
    subject: site,
  });
  ctx.log('rebuild').info({ peer: site }, text);
}

function inputOf(r: RebuildRow, steps: StepRow[]): StepInput {
  const outputs: StepInput['outputs'] = {};
  for (const s of steps) if (s.output) outputs[s.step as StepKey] = JSON.parse(s.output) as unknown;
  return {
    site: r.site_code,
    options: JSON.parse(r.options) as RebuildOptions,
    plan: JSON.parse(r.plan) as RebuildPlan,
    outputs,
  };
}

/**
 * Takes a running rebuild as far as it goes now: each step in order that is not done is run (a
 * step found `running` — the parent stopped during it — runs again; every step is safe to), until
 * one waits on a person, is still at work, or fails. A waiting step whose condition can be checked
 * (the new host joined) is checked again. Every transition says so in a status message.
 */
async function advance(ctx: RunCtx, id: string): Promise<void> {
  for (;;) {
    const r = await ctx.db.selectFrom('rebuilds').selectAll().where('id', '=', id).executeTakeFirst();
    if (r?.state !== 'running') return;
    const steps = await stepsOf(ctx.db, id);
    const step = steps.find((s) => s.state !== 'done');
    const site = r.site_code;
    if (!step) {
      if (await finishRebuild(ctx.db, id, ctx.clock.now()))
        await say(ctx, site, 'info', `rebuild of ${site} done: every step is done`);
      return;
    }
    const key = step.step as StepKey;
    if (step.state === 'failed') return;
    if (step.state === 'pending') {
      if (!(await beginStep(ctx.db, id, key, ctx.clock.now()))) return;
      await say(ctx, site, 'info', `rebuild of ${site}: step ${key} started`);
    }
    let outcome: Awaited<ReturnType<(typeof STEP_RUNNERS)[StepKey]>>;
    try {
      outcome = await STEP_RUNNERS[key](ctx, inputOf(r, steps));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (await failStep(ctx.db, id, key, ctx.clock.now(), message))
        await say(ctx, site, 'error', `rebuild of ${site}: step ${key} failed: ${message}`);
      return;
    }
    if (outcome.state === 'done') {
      if (!(await finishStep(ctx.db, id, key, ctx.clock.now(), outcome.detail, outcome.output))) return;
      await say(ctx, site, 'info', `rebuild of ${site}: step ${key} done: ${outcome.detail}`);
      continue;
    }
    if (outcome.state === 'waiting') {
      const news = step.state !== 'waiting' || step.detail !== outcome.detail;
      // A join token is a credential: messages travel up the hierarchy and into logs, so they point at status.
      const next = outcome.next.replace(/--token \S+/g, `--token <outpost rebuild status ${site}>`);
      if ((await waitStep(ctx.db, id, key, outcome.detail, outcome.next, outcome.output)) && news)
        await say(ctx, site, 'info', `rebuild of ${site}: step ${key} waits: ${outcome.detail}; ${next}`);
      return;
    }
    // Still at work: its news is in the step's detail, not a message each round (bytes move every second).
    if (step.detail !== outcome.detail) await progressStep(ctx.db, id, key, outcome.detail);
    return;
  }
}

async function viewById(ctx: Pick<SiteContext, 'db'>, id: string): Promise<RebuildView> {
  const r = await ctx.db.selectFrom('rebuilds').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  return viewOf(r, await stepsOf(ctx.db, id));
}

async function mustBeRunning(ctx: Pick<SiteContext, 'db'>, site: string): Promise<RebuildRow> {
  const r = await runningRebuild(ctx.db, site);
  if (!r) {
    const last = await latestRebuild(ctx.db, site);
    throw new OutpostError(
      'OUTPOST_NOT_FOUND',
      `no rebuild of ${site} is running${last ? ` (the last one is ${last.state})` : ''}`,
      { hint: `start one: outpost rebuild start ${site}` },
    );
  }
  return r;
}

/** `rebuild plan`: the dry run. */
export function planOf(ctx: RunCtx, code: string, options: RebuildRequest): Promise<RebuildPlan> {
  return planRebuild(ctx, code, checkOptions(options));
}

/**
 * `rebuild start`: records the runbook (refused while one of the site runs) and runs its
 * automatic steps until one waits on a person or is still at work.
 */
export async function startRebuild(
  ctx: RunCtx,
  input: string,
  options: RebuildRequest,
): Promise<RebuildView> {
  const code = assertSiteCode(input);
  const o = checkOptions(options);
  const id = randomUUID();
  await inTurn(code, async () => {
    const plan = await planRebuild(ctx, code, o);
    const now = ctx.clock.now();
    await ctx.db.transaction().execute(async (trx) => {
      const running = await runningRebuild(trx, code);
      if (running)
        throw new OutpostError('OUTPOST_REBUILD_RUNNING', `a rebuild of ${code} is running already`, {
          hint: `outpost rebuild status ${code}; resume it, or outpost rebuild abort ${code}`,
        });
      await insertRebuild(trx, { id, site: code, options: o, plan, now });
      await postMessage(trx, ctx.sink, now, {
        severity: 'info',
        component: 'rebuild',
        text: `rebuild of ${code} started (${o.path}): ${plan.steps.length} steps; ${plan.packages} packages, ${plan.bytesLacking} bytes to send after the preload`,
        subject: code,
      });
    });
    await advance(ctx, id);
  });
  return viewById(ctx, id);
}

/** `rebuild status`: the newest runbook of the site, its checkable steps checked again first. */
export async function rebuildStatus(ctx: RunCtx, input: string): Promise<RebuildView> {
  const code = assertSiteCode(input);
  const last = await latestRebuild(ctx.db, code);
  if (!last)
    throw new OutpostError('OUTPOST_NOT_FOUND', `no rebuild of ${code} is known here`, {
      hint: `outpost rebuild plan ${code}`,
    });
  if (last.state === 'running') await inTurn(code, () => advance(ctx, last.id));
  return viewById(ctx, last.id);
}

/**
 * `rebuild resume`: marks the steps named in `done` as done on the administrator's word (each must
 * be waiting or failed, else nothing changes), sends failed steps round again, and goes on.
 */
export async function resumeRebuild(ctx: RunCtx, input: string, done: string[] = []): Promise<RebuildView> {
  const code = assertSiteCode(input);
  return inTurn(code, async () => {
    const r = await mustBeRunning(ctx, code);
    // What can be checked is checked first, so --done names a step as `rebuild status` shows it.
    await advance(ctx, r.id);
    const steps = await stepsOf(ctx.db, r.id);
    for (const name of done) {
      const s = steps.find((x) => x.step === name);
      if (!s)
        throw new OutpostError(
          'OUTPOST_BAD_INPUT',
          `--done ${name}: the rebuild of ${code} has no such step`,
          {
            hint: `its steps: ${steps.map((x) => x.step).join(', ')}`,
          },
        );
      if (s.state !== 'waiting' && s.state !== 'failed')
        throw new OutpostError(
          'OUTPOST_BAD_INPUT',
          `--done ${name}: that step is ${s.state}, not waiting or failed`,
        );
    }
    for (const s of steps.filter((x) => done.includes(x.step))) {
      const detail = `${s.detail ? `${s.detail}; ` : ''}done on the administrator's word`;
      if (await confirmStep(ctx.db, r.id, s.step as StepKey, ctx.clock.now(), detail))
        await say(ctx, code, 'info', `rebuild of ${code}: step ${s.step} marked done by the administrator`);
    }
    for (const s of steps)
      if (
        s.state === 'failed' &&
        !done.includes(s.step) &&
        (await retryStep(ctx.db, r.id, s.step as StepKey))
      )
        await say(ctx, code, 'info', `rebuild of ${code}: step ${s.step} runs again`);
    await advance(ctx, r.id);
    return viewById(ctx, r.id);
  });
}

/**
 * `rebuild abort`: the runbook stops where it is. Content held for the new host is released, and
 * a join token not yet used is withdrawn (the old host stays); what steps did is not undone.
 */
export async function abortRebuild(ctx: RunCtx, input: string): Promise<RebuildView> {
  const code = assertSiteCode(input);
  return inTurn(code, async () => {
    const r = await mustBeRunning(ctx, code);
    if (!(await abortRebuildRow(ctx.db, r.id, ctx.clock.now()))) return viewById(ctx, r.id);
    await holdLink(ctx, code, null);
    const steps = await stepsOf(ctx.db, r.id);
    const joined = steps.some((s) => s.step === 'join' && s.state === 'done');
    const withdrawn =
      !joined && steps.some((s) => s.step === 'replace' && s.state === 'done')
        ? await cancelReplace(ctx, code, 'rebuild aborted')
        : false;
    await say(
      ctx,
      code,
      'warning',
      `rebuild of ${code} aborted${withdrawn ? '; the join token is withdrawn and the old host stays' : ''}`,
    );
    return viewById(ctx, r.id);
  });
}

/** What `rebuild check` found, and with `--redistribute` what it sent again. */
export interface RebuildCheck {
  site: string;
  notInstalled: NotInstalled[];
  redistributed: { package: string; dp: string }[];
  /** Packages it could not send again from here, and why. */
  notRedistributed: { package: string; dp: string; reason: string }[];
}

/**
 * `rebuild check`: the follow-up report — every package not Installed at the site's DPs, with its
 * reason — and with `redistribute` each failed one is sent again (`dp redistribute`).
 */
export async function checkRebuild(ctx: RunCtx, input: string, redistribute = false): Promise<RebuildCheck> {
  const code = assertSiteCode(input);
  await getSiteRow(ctx.db, code);
  const open = await listNotInstalled(ctx, { site: code });
  const redistributed: RebuildCheck['redistributed'] = [];
  const notRedistributed: RebuildCheck['notRedistributed'] = [];
  if (redistribute) {
    for (const row of open.filter((r) => r.state === 'Install Failed')) {
      try {
        const r = await redistributePackage(ctx, row.package, [row.dp]);
        if (r.redistributed.length) redistributed.push({ package: row.package, dp: row.dp });
        else notRedistributed.push({ package: row.package, dp: row.dp, reason: 'not assigned to it here' });
      } catch (err) {
        if (!(err instanceof OutpostError)) throw err;
        notRedistributed.push({ package: row.package, dp: row.dp, reason: err.message });
      }
    }
    if (redistributed.length)
      await say(
        ctx,
        code,
        'info',
        `rebuild check of ${code}: ${redistributed.length} packages sent again (${redistributed.map((r) => r.package).join(', ')})`,
      );
  }
  return {
    site: code,
    notInstalled: redistributed.length ? await listNotInstalled(ctx, { site: code }) : open,
    redistributed,
    notRedistributed,
  };
}

/** The server's loop: takes every running rebuild as far as it goes (cheap when none runs). */
export async function advanceRebuilds(ctx: RunCtx): Promise<void> {
  const running = await ctx.db
    .selectFrom('rebuilds')
    .select(['id', 'site_code'])
    .where('state', '=', 'running')
    .execute();
  for (const r of running) await inTurn(r.site_code, () => advance(ctx, r.id));
}
