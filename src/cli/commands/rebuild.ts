import type { Command } from 'commander';
import { AdminClient, rebuildApi } from '../../apiclient/index.js';
import { assertSiteCode, formatDuration } from '../../common/index.js';
import type { RebuildPlan, RebuildRequest, RebuildView, StepView } from '../../rebuild/index.js';
import { confirmed } from '../confirm.js';
import { type CommonOptions, serverOptions } from '../options.js';
import { type Column, colourState, formatBytes, formatTime, printJson, printRows } from '../output.js';

type RebuildFlags = CommonOptions & {
  path?: string;
  preloadFrom?: string;
  preloadFromDp?: string;
  exportTo?: string;
  cloneFrom?: string;
  joinDeadline?: string;
};

const STEP_COLUMNS: Column<StepView>[] = [
  ['frame', (s) => s.frame],
  ['step', (s) => s.step],
  ['kind', (s) => s.kind],
  ['state', (s) => colourState(s.state)],
  ['started', (s) => (s.startedAt ? formatTime(s.startedAt) : '')],
  ['finished', (s) => (s.finishedAt ? formatTime(s.finishedAt) : '')],
  ['detail', (s) => s.error ?? s.detail ?? s.title],
];

function withPlanOptions(cmd: Command): Command {
  return cmd
    .option(
      '--path <path>',
      'replace (new hardware, same site) or readd (delete and add the site again)',
      'replace',
    )
    .option('--preload-from <dir>', "a folder on the new host with a copy of the old server's content")
    .option('--preload-from-dp <url>', 'a DP the new host preloads from over the network')
    .option('--export-to <dir>', 'the folder the old host exports its content to before shipping')
    .option('--clone-from <dp>', 'a similar DP (CODE[/DP]) whose packages the new site gets too')
    .option('--join-deadline <duration>', 'how long the new host has to join once its token is issued');
}

function requestOf(o: RebuildFlags): RebuildRequest {
  return {
    path: o.path,
    preloadFrom: o.preloadFrom,
    preloadFromDp: o.preloadFromDp,
    exportTo: o.exportTo,
    cloneFrom: o.cloneFrom,
    joinDeadline: o.joinDeadline,
  };
}

function planLines(p: RebuildPlan): string {
  const rate =
    p.rate.basis === 'none'
      ? 'no rate limit is set and no transfer to it was measured: the time is not known'
      : `at its ${p.rate.basis} of ${formatBytes(p.rate.limitBytesPerSecond ?? p.rate.measuredBytesPerSecond ?? 0)}/s: about ${formatDuration((p.seconds ?? 0) * 1000)}`;
  return [
    `rebuild of ${p.site} (${p.type}, ${p.path}); the old host is generation ${p.oldGeneration}`,
    `  packages: ${p.packages}, ${formatBytes(p.bytesWanted)}`,
    `  preload source: ${p.preloadSource.name ?? 'none'} (taken to hold ${p.preloadSource.holds}): ${formatBytes(p.bytesFromPreload)}`,
    `  the new host will lack ${formatBytes(p.bytesLacking)} (${p.lacking.length} package${p.lacking.length === 1 ? '' : 's'}); ${rate}`,
    '',
  ].join('\n');
}

function printView(json: boolean, v: RebuildView): void {
  if (json) {
    printJson(v);
    return;
  }
  process.stdout.write(
    `rebuild of ${v.site} (${v.options.path}): ${colourState(v.state)}, started ${formatTime(v.createdAt)}\n`,
  );
  printRows(false, v.steps, STEP_COLUMNS);
  if (v.next) process.stdout.write(`next: ${v.next}\n`);
}

export function registerRebuildCommands(program: Command): void {
  const rebuild = program
    .command('rebuild')
    .description("replace a secondary site's hardware: a resumable runbook kept at the parent");

  withPlanOptions(serverOptions(rebuild.command('plan').argument('<code>', 'site code')))
    .description(
      'dry run: the steps, the bytes the new host will lack after the preload, and how long they take',
    )
    .action(async (code: string, o: RebuildFlags) => {
      const p = await rebuildApi(await AdminClient.from(o)).plan(assertSiteCode(code), requestOf(o));
      if (o.json) return printJson(p);
      process.stdout.write(planLines(p));
      printRows(false, p.steps, [
        ['frame', (s) => s.frame],
        ['step', (s) => s.step],
        ['kind', (s) => s.kind],
        ['what', (s) => s.title],
      ]);
    });

  withPlanOptions(serverOptions(rebuild.command('start').argument('<code>', 'site code')))
    .description('start the runbook: runs the automatic steps until one waits on a person')
    .action(async (code: string, o: RebuildFlags) => {
      const v = await rebuildApi(await AdminClient.from(o)).start(assertSiteCode(code), requestOf(o));
      if (!o.json) process.stdout.write(planLines(v.plan));
      printView(!!o.json, v);
    });

  serverOptions(rebuild.command('status').argument('<code>', 'site code'))
    .description('each step, its state, times and what to do next (checkable steps are checked first)')
    .action(async (code: string, o: CommonOptions) => {
      printView(!!o.json, await rebuildApi(await AdminClient.from(o)).status(assertSiteCode(code)));
    });

  serverOptions(rebuild.command('resume').argument('<code>', 'site code'))
    .description('go on: run failed steps again; --done STEP marks a step a person did as done')
    .option(
      '--done <step>',
      'a waiting (or failed) step that is done (repeatable)',
      (v, prev: string[] = []) => [...prev, v],
    )
    .action(async (code: string, o: CommonOptions & { done?: string[] }) => {
      printView(!!o.json, await rebuildApi(await AdminClient.from(o)).resume(assertSiteCode(code), o.done));
    });

  serverOptions(rebuild.command('check').argument('<code>', 'site code'))
    .description('the follow-up: every package not yet Installed at the site, with its reason')
    .option('--redistribute', 'send the failed ones again (dp redistribute)')
    .action(async (code: string, o: CommonOptions & { redistribute?: boolean }) => {
      const r = await rebuildApi(await AdminClient.from(o)).check(assertSiteCode(code), !!o.redistribute);
      if (o.json) return printJson(r);
      for (const d of r.redistributed) process.stdout.write(`sent again: ${d.package} to ${d.dp}\n`);
      for (const d of r.notRedistributed)
        process.stdout.write(`not sent again: ${d.package} to ${d.dp}: ${d.reason}\n`);
      if (r.notInstalled.length === 0) {
        process.stdout.write(`every package is Installed at ${r.site}\n`);
        return;
      }
      printRows(false, r.notInstalled, [
        ['package', (x) => x.package],
        ['dp', (x) => x.dp],
        ['state', (x) => colourState(x.state)],
        ['reason', (x) => x.reason],
        ['last error', (x) => x.lastError],
      ]);
    });

  serverOptions(rebuild.command('abort').argument('<code>', 'site code'))
    .description('stop the runbook where it is: held content is released, an unused join token withdrawn')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .action(async (code: string, o: CommonOptions & { yes?: boolean }) => {
      const api = rebuildApi(await AdminClient.from(o));
      const site = assertSiteCode(code);
      // Nothing running: the abort itself says so (exit 2) without asking first.
      const running = await api.status(site).then(
        (v) => v.state === 'running',
        () => false,
      );
      if (running && !(await confirmed(o.yes, `rebuild abort of ${site}`, `Abort the rebuild of ${site}?`)))
        return;
      printView(!!o.json, await api.abort(site));
    });
}
