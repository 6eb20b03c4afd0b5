import { type Command, Option } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import { parseDuration, SEVERITIES, sleep } from '../../common/index.js';
import { OutpostError } from '../../errors/index.js';
import { COMPONENTS, formatLogLine } from '../../logs/index.js';
import type { ListedJob, NotInstalled } from '../../replication/index.js';
import type { SiteSummary } from '../../sites/index.js';
import type { PackageState, PackageStatus, StatusMessage } from '../../status/index.js';
import { confirmed } from '../confirm.js';
import { type CommonOptions, parseIntOption, serverOptions } from '../options.js';
import {
  type Column,
  colourSeverity,
  colourState,
  formatBytes,
  formatEta,
  formatTime,
  printJson,
  printRows,
} from '../output.js';
import { registerDeploymentStatus } from './mp.js';

/** `--since`: a duration ago (`10m`) or an ISO time. */
function parseSince(text: string): number {
  if (/^\d+(\.\d+)?(ms|s|m|h)$/.test(text)) return Date.now() - parseDuration(text);
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `--since '${text}' is neither a duration like 10m nor a date`,
    );
  return t;
}

function messageLine(m: StatusMessage): string {
  const ids = [m.subject ? `about ${m.subject}` : null, m.package, m.job ? `job ${m.job.slice(0, 8)}` : null]
    .filter(Boolean)
    .join(' ');
  return `${formatTime(m.time)} ${m.site} ${colourSeverity(m.severity, m.severity.padEnd(7))} ${m.component.padEnd(9)} ${m.text}${ids ? ` [${ids}]` : ''}\n`;
}

/** Stops a --follow loop cleanly on Ctrl-C. */
function untilInterrupted(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return controller.signal;
}

function printJobs(json: boolean, rows: ListedJob[]): void {
  printRows(json, rows, [
    ['id', (r) => r.id.slice(0, 8)],
    ['site', (r) => r.site],
    ['kind', (r) => r.kind],
    ['package', (r) => r.package],
    ['state', (r) => colourState(r.state)],
    ['sent', (r) => `${formatBytes(r.bytesSent)} / ${formatBytes(r.bytesTotal)}`],
    ['rate', (r) => (r.rate === null ? '' : `${formatBytes(r.rate)}/s`)],
    ['eta', (r) => (r.etaSeconds === null ? '' : formatEta(r.etaSeconds))],
    ['attempts', (r) => r.attempts],
    ['waiting', (r) => r.waiting],
    ['last error', (r) => r.lastError],
  ]);
}

export function registerStatusCommands(program: Command): void {
  const status = program
    .command('status')
    .description('package status, deployment status and status messages');

  serverOptions(status.command('packages'))
    .description('package status per (package, DP)')
    .option('--site <code>', 'only DPs of this site')
    .option('--package <id>', 'only this package')
    .option(
      '--not-installed',
      'only what is missing, pending, retrying or failed, with the reason and last error',
    )
    .action(async (o: CommonOptions & { site?: string; package?: string; notInstalled?: boolean }) => {
      const rows = await (await AdminClient.from(o)).get<(PackageStatus & Partial<NotInstalled>)[]>(
        '/status/packages',
        {
          site: o.site,
          package: o.package,
          notInstalled: o.notInstalled,
        },
      );
      type Row = (typeof rows)[number];
      const tail: Column<Row>[] = o.notInstalled
        ? [
            ['reason', (r) => r.reason],
            ['last error', (r) => r.lastError],
          ]
        : [['error', (r) => r.error]];
      printRows(!!o.json, rows, [
        ['package', (r) => r.package],
        ['version', (r) => r.sourceVersion],
        ['dp', (r) => r.dp],
        ['state', (r) => colourState(r.state)],
        ['updated', (r) => r.updatedAt],
        ...tail,
      ]);
    });

  serverOptions(status.command('summary'))
    .description('every site below this one: packages by state across its DPs, backlog, state, contact')
    .action(async (o: CommonOptions) => {
      const rows = await (await AdminClient.from(o)).get<SiteSummary[]>('/status/summary');
      const count = (r: SiteSummary, ...states: PackageState[]) =>
        states.reduce((n, s) => n + r.packages[s], 0);
      printRows(!!o.json, rows, [
        ['site', (r) => r.code],
        ['type', (r) => r.type],
        ['parent', (r) => r.parent],
        ['state', (r) => colourState(r.state)],
        ['generation', (r) => r.generation],
        ['last contact', (r) => r.lastContact],
        ['installed', (r) => count(r, 'Installed')],
        ['pending', (r) => count(r, 'Install Pending', 'Removal Pending')],
        ['retrying', (r) => count(r, 'Install Retrying', 'Removal Retrying')],
        ['failed', (r) => count(r, 'Install Failed', 'Removal Failed')],
        ['jobs', (r) => r.backlog.jobs],
        ['queued', (r) => formatBytes(r.backlog.bytes)],
        ['rate', (r) => (r.backlog.rate === null ? '' : `${formatBytes(r.backlog.rate)}/s`)],
      ]);
    });

  registerDeploymentStatus(status);

  serverOptions(status.command('messages'))
    .description('status messages, oldest first')
    .option('--site <code>', 'only from or about this site')
    .option('--component <name>', 'only from this component')
    .addOption(
      new Option('--severity <level>', 'only this severity or worse (warning: warnings and errors)').choices(
        SEVERITIES,
      ),
    )
    .option('--package <id>', 'only about this package')
    .option('--job <id>', 'only about this job')
    .option('--since <when>', 'a duration ago (10m) or a date')
    .option('--limit <n>', 'at most this many (newest)', parseIntOption('--limit', 1, 10_000), 200)
    .option('--follow', 'keep printing new messages until Ctrl-C')
    .action(
      async (
        o: CommonOptions & {
          site?: string;
          component?: string;
          severity?: string;
          package?: string;
          job?: string;
          since?: string;
          limit: number;
          follow?: boolean;
        },
      ) => {
        const client = await AdminClient.from(o);
        const query = {
          site: o.site,
          component: o.component,
          severity: o.severity,
          package: o.package,
          job: o.job,
          since: o.since ? parseSince(o.since) : undefined,
        };
        let rows = await client.get<(StatusMessage & { seq: number })[]>('/status/messages', {
          ...query,
          limit: o.limit,
        });
        const strip = ({ seq: _seq, ...m }: StatusMessage & { seq: number }) => m;
        if (o.json && !o.follow) return printJson(rows.map(strip));
        const signal = o.follow ? untilInterrupted() : null;
        // The newest message printed so far: a poll that brings nothing new must not lose it, or the
        // next poll would print the whole history again.
        let after: number | undefined;
        for (;;) {
          for (const m of rows)
            process.stdout.write(
              o.json ? `${JSON.stringify(strip(m))}\n` : o.output === 'name' ? `${m.id}\n` : messageLine(m),
            );
          if (!signal || signal.aborted) return;
          after = rows.at(-1)?.seq ?? after;
          await sleep(1000, signal);
          if (signal.aborted) return;
          rows =
            after === undefined
              ? await client.get('/status/messages', query)
              : await client.get('/status/messages', { ...query, after });
        }
      },
    );

  const job = program.command('job').description('jobs: units of work sent to child sites');
  serverOptions(job.command('list'))
    .description('jobs with state, bytes, attempts and why a job waits')
    .option('--site <code>', 'only jobs to this site')
    .option('--state <state>', 'only jobs in this state')
    .option(
      '--watch',
      'redraw the table every second until Ctrl-C (off a terminal: print it when it changes)',
    )
    .action(async (o: CommonOptions & { site?: string; state?: string; watch?: boolean }) => {
      const client = await AdminClient.from(o);
      const signal = o.watch ? untilInterrupted() : null;
      const redraw = !!o.watch && !!process.stdout.isTTY;
      let last: string | undefined;
      for (;;) {
        const rows = await client.get<ListedJob[]>('/jobs', { site: o.site, state: o.state });
        const seen = JSON.stringify(rows);
        if (seen !== last || redraw) {
          if (redraw) process.stdout.write('\x1b[H\x1b[2J');
          else if (last !== undefined && !o.json) process.stdout.write('\n');
          printJobs(!!o.json, rows);
          last = seen;
        }
        if (!signal || signal.aborted) return;
        await sleep(1000, signal);
        if (signal.aborted) return;
      }
    });

  serverOptions(job.command('delete'))
    .description('repair: remove jobs to a site (all, or one with --job), whatever their state')
    .requiredOption('--site <code>', 'site the jobs go to')
    .option('--job <id>', 'only this job')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .action(async (o: CommonOptions & { site: string; job?: string; yes?: boolean }) => {
      const client = await AdminClient.from(o);
      const remove = (dryRun: boolean) =>
        client.post<{ site: string; removed: string[] }>('/jobs/delete', {
          site: o.site,
          job: o.job,
          dryRun,
        });
      if (!o.yes) {
        const plan = await remove(true);
        // As host purge: nothing to remove needs no confirmation.
        if (plan.removed.length) {
          const ids = plan.removed.map((id) => id.slice(0, 8)).join(', ');
          const question = `Delete ${plan.removed.length} jobs to ${plan.site} (${ids}), whatever their state?`;
          if (!(await confirmed(o.yes, `job delete removes ${plan.removed.length} jobs`, question))) return;
        }
      }
      const r = await remove(false);
      if (o.json) printJson(r);
      else
        process.stdout.write(
          r.removed.length
            ? `removed ${r.removed.length} jobs to ${r.site}: ${r.removed.join(', ')}\n`
            : `no jobs to ${r.site} to remove\n`,
        );
    });

  serverOptions(program.command('logs').argument('<component>', COMPONENTS.join(', ')))
    .description("a component's log on this site")
    .option('--follow', 'keep printing until Ctrl-C')
    .option('--site <code>', "the site whose log to read: only the server's own site for now")
    .action(async (component: string, o: CommonOptions & { follow?: boolean; site?: string }) => {
      const client = await AdminClient.from(o);
      if (o.site !== undefined) {
        const self = (await client.get<{ code: string }>('/site')).code;
        if (o.site !== self) {
          throw new OutpostError(
            'OUTPOST_BAD_INPUT',
            `logs of site ${o.site} are kept at ${o.site}; this server is ${self}`,
            {
              hint: `run outpost logs against ${o.site}'s server`,
            },
          );
        }
      }
      const signal = o.follow ? untilInterrupted() : null;
      let cursor: { offset?: number; file?: number } = {};
      for (;;) {
        const r = await client.get<{ lines: string[]; next: number; file?: number }>(
          `/logs/${encodeURIComponent(component)}`,
          cursor,
        );
        for (const line of r.lines) process.stdout.write(o.json ? `${line}\n` : `${formatLogLine(line)}\n`);
        cursor = { offset: r.next, file: r.file };
        if (!signal || signal.aborted) return;
        await sleep(1000, signal);
        if (signal.aborted) return;
      }
    });
}
