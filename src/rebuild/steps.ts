import { formatBytes, parseDuration } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { OPEN_STATES } from '../jobs/index.js';
import { assignPackage, cloneDp, holdLink, listNotInstalled, updateAddress } from '../replication/index.js';
import { addSite, deleteSite, replaceSite } from '../sites/index.js';
import { preloadDir, type RebuildOptions, type RebuildPlan, type StepKey } from './model.js';

export type RunCtx = Pick<
  SiteContext,
  'clock' | 'config' | 'db' | 'identity' | 'log' | 'sink' | 'transfers' | 'wake'
>;

/** What running a step once found: done, still at work (checked again later), or waiting on a person. */
export type Outcome =
  | { state: 'done'; detail: string; output?: unknown }
  | { state: 'running'; detail: string }
  | { state: 'waiting'; detail: string; next: string; output?: unknown };

/** What a step is run with: the runbook's options and plan, and what the steps before it found. */
export interface StepInput {
  site: string;
  options: RebuildOptions;
  plan: RebuildPlan;
  outputs: Partial<Record<StepKey, unknown>>;
}

/** The join token a replace or add step issued, and until when it works. */
interface TokenOutput {
  joinToken: string;
  expiresAt: number;
}
/** The new host, as the join step saw it register. */
interface JoinOutput {
  generation: string;
  registeredAt: number;
}

/** A word the shell passes through unchanged, quoted if it needs to be. */
const sh = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function joinDeadlineMs(o: RebuildOptions): number | undefined {
  return o.joinDeadline ? parseDuration(o.joinDeadline, '--join-deadline') : undefined;
}

/** The newest join token: one the join step issued again, else the replace or add step's. */
function tokenOf(input: StepInput): TokenOutput | undefined {
  const again = input.outputs.join as Partial<TokenOutput> | undefined;
  if (again?.joinToken) return again as TokenOutput;
  return (input.outputs.replace ?? input.outputs.add) as TokenOutput | undefined;
}

function confirmWith(input: StepInput, step: StepKey): string {
  return `then: outpost rebuild resume ${input.site} --done ${step}`;
}

function exportStep(_ctx: RunCtx, input: StepInput): Outcome {
  const dir = sh(input.options.exportTo ?? '');
  return {
    state: 'waiting',
    detail: `the old host writes its content to ${dir}, to ship with the new hardware`,
    next: `on the old host (${input.site}): outpost content export --dp ${input.site} --out ${dir} --data <its data directory>; ${confirmWith(input, 'export')}`,
  };
}

function copyStep(_ctx: RunCtx, input: StepInput): Outcome {
  const dir = sh(input.options.preloadFrom ?? '');
  return {
    state: 'waiting',
    detail: `the new host needs a copy of the old server's content in ${dir}`,
    next: `copy the old server's content library (its DATA/content), a backup of it or package files to ${dir} on the new host; ${confirmWith(input, 'copy')}`,
  };
}

async function replaceStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const { site, plan, options } = input;
  const row = await siteRow(ctx, site);
  if (row?.generation && row.generation !== plan.oldGeneration)
    return { state: 'done', detail: `the new host has joined already (generation ${row.generation})` };
  const preload = !!(preloadDir(options) || options.preloadFromDp);
  // Before the token exists: a new host that joins finds its content held until its preload.
  if (preload) await holdLink(ctx, site, plan.oldGeneration);
  const r = await replaceSite(ctx, { code: site, joinDeadlineMs: joinDeadlineMs(options) });
  const output: TokenOutput = { joinToken: r.joinToken, expiresAt: r.expiresAt };
  return {
    state: 'done',
    detail: `join token issued, valid for ${r.joinDeadline}; the old host (generation ${r.generation}) serves until the new one joins${preload ? '; content for the new host is held until its preload' : ''}`,
    output,
  };
}

async function deleteStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const row = await siteRow(ctx, input.site);
  if (!row || row.state === 'deleted' || row.generation !== input.plan.oldGeneration)
    return { state: 'done', detail: `site ${input.site} is deleted` };
  const r = await deleteSite(ctx, { code: input.site });
  return {
    state: 'done',
    detail: `site ${input.site} deleted: ${plural(r.jobs.length, 'job')} cancelled, ${plural(r.assignments.length, 'assignment')} dropped; the old host: ${r.told}`,
  };
}

async function addStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const { site, plan } = input;
  const row = await siteRow(ctx, site);
  if (row?.generation && row.generation !== plan.oldGeneration && row.state !== 'deleted')
    return { state: 'done', detail: `the new host has joined already (generation ${row.generation})` };
  // Added by an earlier run whose token was lost (the parent stopped before recording it): again.
  if (row && row.state !== 'deleted') await deleteSite(ctx, { code: site });
  let r: Awaited<ReturnType<typeof addSite>>;
  try {
    r = await addSite(ctx, {
      code: site,
      type: plan.type,
      url: plan.url,
      ...(plan.name ? { name: plan.name } : {}),
      joinDeadlineMs: joinDeadlineMs(input.options),
    });
  } catch (err) {
    // The deletion travels up the hierarchy; the code is free once the central site has it.
    if (err instanceof OutpostError && err.code === 'OUTPOST_SITE_EXISTS')
      return { state: 'running', detail: `waiting for the deletion of ${site} to reach the central site` };
    throw err;
  }
  if (plan.address) {
    const { rateLimitKiBps, schedule, concurrency, retries, retryDelayMs } = plan.address;
    await updateAddress(ctx, site, { rateLimitKiBps, schedule, concurrency, retries, retryDelayMs });
  }
  const output: TokenOutput = { joinToken: r.joinToken, expiresAt: r.expiresAt };
  return {
    state: 'done',
    detail: `site ${site} added again with its address settings; join token valid for ${r.joinDeadline}`,
    output,
  };
}

async function joinStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const { site, plan } = input;
  const row = await siteRow(ctx, site);
  if (row?.generation && row.generation !== plan.oldGeneration && row.state === 'active') {
    const phase = await ctx.db
      .selectFrom('site_phases')
      .select('at')
      .where('site_code', '=', site)
      .where('name', '=', 'registration')
      .executeTakeFirst();
    const output: JoinOutput = {
      generation: row.generation,
      registeredAt: Number(phase?.at ?? ctx.clock.now()),
    };
    return {
      state: 'done',
      detail: `new generation ${row.generation} registered and active; generation ${plan.oldGeneration} is fenced`,
      output,
    };
  }
  let token = tokenOf(input);
  const parent = ctx.config.url;
  const joined = row?.generation && row.generation !== plan.oldGeneration;
  let output: TokenOutput | undefined;
  if (!joined && token && token.expiresAt <= ctx.clock.now()) {
    // Hardware is late more often than not: a token that expired unused is issued again.
    const issued = await (plan.path === 'replace' ? replaceStep : addStep)(ctx, input);
    if (issued.state === 'done' && issued.output) token = output = issued.output as TokenOutput;
  }
  return {
    state: 'waiting',
    ...(output ? { output } : {}),
    detail: joined
      ? `new generation ${row.generation} registered; waiting for it to be active (${row.state}${row.error ? `: ${row.error}` : ''})`
      : `waiting for the new host to join${token ? ` (token valid until ${new Date(token.expiresAt).toISOString()})` : ''}`,
    next: `stop outpost on the old host; on the new host (reachable at ${plan.url}): outpost doctor --preflight ${parent} --token ${token?.joinToken ?? 'TOKEN'}, then outpost site join --data DIR --parent ${parent} --token ${token?.joinToken ?? 'TOKEN'} and outpost serve --data DIR; checked by itself`,
  };
}

function preloadStep(_ctx: RunCtx, input: StepInput): Outcome {
  const { site, options, plan } = input;
  const dir = preloadDir(options);
  const from = dir ? `--dir ${sh(dir)}` : `--from-dp ${sh(options.preloadFromDp ?? '')}`;
  return {
    state: 'waiting',
    detail: `content for the new host is held until its preload (${formatBytes(plan.bytesFromPreload)} expected from ${plan.preloadSource.name})`,
    next: `on the new host: outpost content preload ${from} --data DIR; ${confirmWith(input, 'preload')} (${site}'s content is held until then)`,
  };
}

async function reassignStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const { site, plan } = input;
  // A named DP was the old host's own; it is added again at the new host, and assigned then.
  const own = plan.assignments.filter((a) => a.dp === site);
  const origins = new Map(
    (await ctx.db.selectFrom('packages').select(['id', 'origin_site']).execute()).map((p) => [
      p.id,
      p.origin_site,
    ]),
  );
  const here = own.filter((a) => origins.get(a.package) === ctx.config.code);
  for (const a of here) await assignPackage(ctx, a.package, [a.dp]);
  const elsewhere = own.filter((a) => origins.has(a.package) && origins.get(a.package) !== ctx.config.code);
  const named = plan.assignments.length - own.length;
  return {
    state: 'done',
    detail: [
      `${plural(here.length, 'package')} assigned to ${site} again`,
      ...(elsewhere.length
        ? [
            `assign at their origin: ${elsewhere.map((a) => `${a.package} (${origins.get(a.package)})`).join(', ')}`,
          ]
        : []),
      ...(named ? [`${plural(named, 'assignment')} to named DPs: add the DPs at ${site}, then assign`] : []),
    ].join('; '),
  };
}

async function cloneStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const r = await cloneDp(ctx, { from: input.options.cloneFrom ?? '', to: input.site });
  return {
    state: 'done',
    detail: `dp clone from ${r.from} to ${r.to}: ${plural(r.added.length, 'package')} added, ${r.already.length} already there${r.skipped.length ? `, ${r.skipped.length} managed elsewhere` : ''}`,
  };
}

/**
 * Releases the hold, then waits until the parent has offered the new host every package assigned
 * to it and compares what the offers found missing (the bytes that cross the link) with what the
 * plan said the host would lack after its preload: more means content it should hold is being sent.
 */
async function verifyStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const { site, plan } = input;
  await holdLink(ctx, site, null);
  const since = (input.outputs.join as JoinOutput | undefined)?.registeredAt ?? 0;
  const jobs = await ctx.db
    .selectFrom('jobs')
    .select(['package_id', 'state', 'bytes_total', 'attempts'])
    .where('site_code', '=', site)
    .where('kind', '=', 'package')
    .where('created_at', '>=', since)
    .where('state', '!=', 'cancelled')
    .execute();
  const assigned = await ctx.db
    .selectFrom('assignments')
    .select('package_id')
    .distinct()
    .where('site_code', '=', site)
    .execute();
  // Offered: the child has answered what it lacks (a job that lacked nothing completes at once).
  const offered = (j: (typeof jobs)[number]) =>
    j.state === 'completed' ||
    (j.state === 'failed' && Number(j.attempts) > 0) ||
    ((j.state === 'active' || j.state === 'retrying') && Number(j.bytes_total) > 0);
  const withJob = new Set(jobs.map((j) => j.package_id));
  const installed = new Set(
    (
      await ctx.db
        .selectFrom('package_status')
        .select('package_id')
        .where('site_code', '=', site)
        .where('state', '=', 'Installed')
        .execute()
    ).map((r) => r.package_id),
  );
  const unoffered =
    assigned.filter((a) => !withJob.has(a.package_id) && !installed.has(a.package_id)).length +
    jobs.filter((j) => !offered(j) && (OPEN_STATES as readonly string[]).includes(j.state)).length;
  if (unoffered > 0)
    return {
      state: 'running',
      detail: `waiting for ${site} to answer ${plural(unoffered, 'more offer')} (what it lacks of each package)`,
    };
  // A package's most: a job offered again (after a restart) asks only for what is still missing.
  const asked = new Map<string, number>();
  for (const j of jobs.filter(offered))
    asked.set(j.package_id ?? '', Math.max(asked.get(j.package_id ?? '') ?? 0, Number(j.bytes_total)));
  const bytes = [...asked.values()].reduce((s, n) => s + n, 0);
  if (bytes > plan.bytesLacking) {
    const planned = new Map(plan.lacking.map((p) => [p.package, p.bytes]));
    const over = [...asked]
      .filter(([id, n]) => n > (planned.get(id) ?? 0))
      .map(([id, n]) => `${id} (${formatBytes(n)})`);
    throw new OutpostError(
      'OUTPOST_CONTENT_MISSING',
      `${site} lacked ${formatBytes(bytes)}, more than the ${formatBytes(plan.bytesLacking)} planned: sent although the preload should have brought them: ${over.join(', ')}`,
      { hint: `was the preload run on the new host before: outpost rebuild resume ${site} --done preload?` },
    );
  }
  return {
    state: 'done',
    detail: `${site} lacked ${formatBytes(bytes)} of ${plural(asked.size, 'package')} (planned: ${formatBytes(plan.bytesLacking)}); nothing it held was sent again`,
  };
}

async function followupStep(ctx: RunCtx, input: StepInput): Promise<Outcome> {
  const open = await listNotInstalled(ctx, { site: input.site });
  if (open.length === 0)
    return { state: 'done', detail: `every package is Installed at ${input.site}'s DPs` };
  const shown = open.slice(0, 5).map((r) => `${r.package} on ${r.dp}: ${r.reason}`);
  return {
    state: 'running',
    detail: `${plural(open.length, 'package')} not yet Installed: ${shown.join('; ')}${open.length > 5 ? '; …' : ''} (outpost rebuild check ${input.site}; --redistribute sends the failed ones again)`,
  };
}

async function siteRow(ctx: RunCtx, code: string) {
  return ctx.db.selectFrom('sites').selectAll().where('code', '=', code).executeTakeFirst();
}

/** How each step runs; every one is safe to run again (a parent that stopped mid-step runs it again). */
export const STEP_RUNNERS: Record<StepKey, (ctx: RunCtx, input: StepInput) => Outcome | Promise<Outcome>> = {
  export: exportStep,
  copy: copyStep,
  replace: replaceStep,
  delete: deleteStep,
  add: addStep,
  join: joinStep,
  preload: preloadStep,
  reassign: reassignStep,
  clone: cloneStep,
  verify: verifyStep,
  followup: followupStep,
};
