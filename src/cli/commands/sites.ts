import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import { assertSiteCode, parseDuration, parseSize } from '../../common/index.js';
import { OutpostError } from '../../errors/index.js';
import { DEFAULT_LISTEN } from '../../host/index.js';
import type {
  AddSiteResult,
  DeleteSummary,
  InstalledSite,
  PurgeSummary,
  ReplaceSiteResult,
  SitePhase,
  SiteView,
} from '../../sites/index.js';
import { confirmed } from '../confirm.js';
import { type CommonOptions, serverOptions } from '../options.js';
import {
  type Column,
  colourState,
  formatBytes,
  formatTime,
  humanOutput,
  printJson,
  printObject,
  printRows,
} from '../output.js';
import { waitForSiteGone } from '../wait.js';
import { printPreflight } from './host.js';

function printInstalled(json: boolean, site: InstalledSite, what: string): void {
  if (json) {
    printJson(site);
    return;
  }
  process.stdout.write(`${what} ${site.code} (${site.type}) in ${site.dataDir}\n`);
  process.stdout.write(
    `  url:   ${site.url}\n  token: ${site.dataDir}/admin.token\n  start it with: outpost serve --data ${site.dataDir}\n`,
  );
}

function deleteSummary(r: DeleteSummary): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  return [
    `${r.dryRun ? 'dry run: ' : ''}site ${r.sites.join(', ')} ${r.dryRun ? 'would be' : 'is'} deleted`,
    `  jobs ${r.dryRun ? 'to cancel' : 'cancelled'}: ${r.jobs.length} (${formatBytes(r.bytesQueued)} queued)`,
    `  ${verb}: ${r.assignments.length} DP assignments, ${r.statuses} package statuses${r.address ? ', the address' : ''}`,
    ...(r.dryRun ? [] : [`  the site itself: ${r.told}`]),
    '',
  ].join('\n');
}

const totalOf = (r: PurgeSummary) => Object.values(r.removed).reduce((a, b) => a + b, 0);

function purgeSummary(r: PurgeSummary): string {
  const removed = Object.entries(r.removed).filter(([, n]) => n > 0);
  const lines = removed.length
    ? [`${r.dryRun ? 'would remove' : 'removed'}: ${removed.map(([k, n]) => `${n} ${k}`).join(', ')}`]
    : [`nothing of ${r.site} left to remove`];
  if (r.queuedAt.length)
    lines.push(`${r.dryRun ? 'would queue' : 'queued'} the same purge at: ${r.queuedAt.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** The columns of `site list`. */
export const SITE_COLUMNS: Column<SiteView>[] = [
  ['code', (r) => r.code],
  ['type', (r) => r.type],
  ['parent', (r) => r.parent],
  ['state', (r) => colourState(r.state)],
  ['last contact', (r) => r.lastContact],
  ['url', (r) => r.url, 'wide'],
  ['error', (r) => r.error],
];

export function registerSiteCommands(program: Command): void {
  program
    .command('init')
    .description('create a new central site in an empty data directory')
    .requiredOption('--code <code>', 'site code, 3 characters A-Z 0-9')
    .requiredOption('--data <dir>', 'data directory to create')
    .option('--name <name>', 'display name')
    .option('--listen <host:port>', 'address to listen on', DEFAULT_LISTEN)
    .option('--database <url>', "keep the site's database in PostgreSQL (its own schema) instead of SQLite")
    .option('--json', 'machine-readable output')
    .action(
      async (o: {
        code: string;
        data: string;
        name?: string;
        listen: string;
        database?: string;
        json?: boolean;
      }) => {
        const { initCentral } = await import('../../sites/index.js');
        printInstalled(
          !!o.json,
          await initCentral({
            dataDir: o.data,
            code: o.code,
            name: o.name,
            listen: o.listen,
            database: o.database,
          }),
          'created central site',
        );
      },
    );

  const site = program.command('site').description('sites of the hierarchy');

  serverOptions(site.command('add'))
    .description('add a child site of this site; prints its one-time join token')
    .requiredOption('--code <code>', 'site code of the new site')
    .requiredOption('--type <type>', 'primary or secondary')
    .option('--parent <code>', "parent site code (this server's site)")
    .requiredOption('--url <url>', 'URL the parent uses to reach the new site')
    .option('--name <name>', 'display name')
    .option('--join-deadline <duration>', 'how long to wait for the join and each install phase', '10m')
    .action(
      async (
        o: CommonOptions & {
          code: string;
          type: string;
          parent?: string;
          url: string;
          name?: string;
          joinDeadline: string;
        },
      ) => {
        parseDuration(o.joinDeadline, '--join-deadline');
        const client = await AdminClient.from(o);
        const r = await client.post<AddSiteResult>('/sites', {
          code: o.code,
          type: o.type,
          parent: o.parent,
          url: o.url,
          name: o.name,
          joinDeadline: o.joinDeadline,
        });
        if (o.json) return printJson(r);
        process.stdout.write(
          `site ${r.code} added under ${r.parent}, state ${r.state}; join within ${r.joinDeadline} with:\n`,
        );
        process.stdout.write(
          `  outpost site join --data DIR --parent ${client.baseUrl} --token ${r.joinToken}\n`,
        );
      },
    );

  serverOptions(site.command('replace').argument('<code>', 'site code'))
    .description(
      'new hardware for a joined child site: prints a join token; the old host is fenced when the new one joins',
    )
    .option('--join-deadline <duration>', 'how long to wait for the join and each install phase', '10m')
    .action(async (code: string, o: CommonOptions & { joinDeadline: string }) => {
      parseDuration(o.joinDeadline, '--join-deadline');
      const client = await AdminClient.from(o);
      const r = await client.post<ReplaceSiteResult>(
        `/sites/${encodeURIComponent(assertSiteCode(code))}/replace`,
        { joinDeadline: o.joinDeadline },
      );
      if (o.json) return printJson(r);
      process.stdout.write(
        `site ${r.code} (${r.type}) may be replaced within ${r.joinDeadline}; on the new host, reachable at ${r.url}, run:\n`,
      );
      process.stdout.write(
        `  outpost site join --data DIR --parent ${client.baseUrl} --token ${r.joinToken}\n`,
      );
      process.stdout.write(
        `generation ${r.generation} keeps serving ${r.code} until then, and is refused from the moment the new host joins\n`,
      );
    });

  site
    .command('join')
    .description('install a site on this host and register it with its parent (preflight first)')
    .requiredOption('--data <dir>', 'data directory to create')
    .requiredOption('--parent <url>', "the parent site server's URL")
    .requiredOption('--token <token>', 'join token from site add')
    .option('--listen <host:port>', 'address to listen on (default: from the URL given at site add)')
    .option('--service <kind>', 'also install a service unit: systemd')
    .option('--root <dir>', 'where host paths such as the service unit go (default /)', '/')
    .option('--reserve <size>', 'free disk space to keep beyond the assigned content', '256M')
    .option('--database <url>', "keep the site's database in PostgreSQL (its own schema) instead of SQLite")
    .option('--json', 'machine-readable output')
    .action(
      async (o: {
        data: string;
        parent: string;
        token: string;
        listen?: string;
        service?: string;
        root: string;
        reserve: string;
        database?: string;
        json?: boolean;
      }) => {
        if (o.service !== undefined && o.service !== 'systemd')
          throw new OutpostError('OUTPOST_BAD_INPUT', `--service '${o.service}' is not known`, {
            hint: 'use systemd',
          });
        const reserveBytes = parseSize(o.reserve, '--reserve');
        const { joinSite } = await import('../../sites/index.js');
        const installed = await joinSite({
          dataDir: o.data,
          parentUrl: o.parent,
          token: o.token,
          listen: o.listen,
          root: o.root,
          service: o.service === 'systemd' ? 'systemd' : undefined,
          reserveBytes,
          database: o.database,
          onPreflight: (result) => printPreflight(result.checks, !!o.json),
        });
        printInstalled(!!o.json, installed, 'joined as site');
      },
    );

  serverOptions(site.command('delete').argument('<code>', 'site code'))
    .description('delete a child site: cancel its jobs, drop its address, assignments and status')
    .option('--recursive', 'also delete the sites below it')
    .option('--dry-run', 'only print what would be removed')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .option('--wait', 'then wait until this site holds it as deleted')
    .action(
      async (
        code: string,
        o: CommonOptions & { recursive?: boolean; dryRun?: boolean; yes?: boolean; wait?: boolean },
      ) => {
        const client = await AdminClient.from(o);
        const remove = (dryRun: boolean) => {
          const query = new URLSearchParams();
          if (o.recursive) query.set('recursive', 'true');
          if (dryRun) query.set('dryRun', 'true');
          return client.call<DeleteSummary>(
            'DELETE',
            `/sites/${encodeURIComponent(assertSiteCode(code))}?${query}`,
          );
        };
        if (!o.dryRun && !o.yes) {
          const plan = await remove(true);
          if (process.stdin.isTTY) process.stderr.write(deleteSummary(plan));
          const what = `site ${plan.sites.join(', ')}`;
          const question = `Delete ${what} and cancel ${plan.jobs.length} jobs to it?`;
          if (!(await confirmed(o.yes, `site delete removes ${what}`, question))) return;
        }
        const r = await remove(!!o.dryRun);
        if (o.json) printJson(r);
        else process.stdout.write(deleteSummary(r));
        if (o.wait && !r.dryRun) await waitForSiteGone(client, r.site);
      },
    );

  serverOptions(site.command('purge').argument('<code>', 'site code'))
    .description(
      'repair: remove every trace of CODE from this site, and queue the same at the sites that know it',
    )
    .option('--dry-run', 'only print what would be removed')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .action(async (code: string, o: CommonOptions & { dryRun?: boolean; yes?: boolean }) => {
      const client = await AdminClient.from(o);
      const purge = (dryRun: boolean) =>
        client.post<PurgeSummary>(
          `/sites/${encodeURIComponent(assertSiteCode(code))}/purge${dryRun ? '?dryRun=true' : ''}`,
          {},
        );
      if (!o.dryRun && !o.yes) {
        const plan = await purge(true);
        // As host purge: nothing left to remove needs no confirmation.
        if (totalOf(plan) > 0) {
          if (process.stdin.isTTY) process.stderr.write(purgeSummary(plan));
          const question = `Purge every trace of ${plan.site} here${plan.queuedAt.length ? ` and at ${plan.queuedAt.join(', ')}` : ''}?`;
          if (!(await confirmed(o.yes, `site purge removes every trace of ${plan.site}`, question))) return;
        }
      }
      const r = await purge(!!o.dryRun);
      if (o.json) printJson(r);
      else process.stdout.write(purgeSummary(r));
    });

  serverOptions(site.command('list'))
    .description('every site this site knows')
    .action(async (o: CommonOptions) => {
      const rows = await (await AdminClient.from(o)).get<SiteView[]>('/sites');
      printRows(!!o.json, rows, SITE_COLUMNS);
    });

  serverOptions(site.command('show').argument('<code>', 'site code'))
    .description('one site with its install phases')
    .action(async (code: string, o: CommonOptions) => {
      const s = await (await AdminClient.from(o)).get<SiteView & { phases: SitePhase[] }>(
        `/sites/${encodeURIComponent(code)}`,
      );
      printObject(!!o.json, s as unknown as Record<string, unknown>);
      if (humanOutput() && s.phases.length) {
        process.stdout.write('phases:\n');
        for (const p of s.phases)
          process.stdout.write(
            `  ${formatTime(p.at)}  ${p.name.padEnd(14)} ${colourState(p.state)}${p.error ? `  ${p.error}` : ''}\n`,
          );
      }
    });
}
