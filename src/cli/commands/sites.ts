import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import { parseDuration, parseSize } from '../../common/index.js';
import { OutpostError } from '../../errors/index.js';
import type {
  AddSiteResult,
  DeleteSummary,
  InstalledSite,
  PurgeSummary,
  SitePhase,
  SiteView,
} from '../../sites/index.js';
import { assertSiteCode, DEFAULT_LISTEN } from '../../sites/index.js';
import { type CommonOptions, serverOptions } from '../options.js';
import { colourState, formatBytes, formatTime, printJson, printObject, printRows } from '../output.js';
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
    .action(async (code: string, o: CommonOptions & { recursive?: boolean; dryRun?: boolean }) => {
      const client = await AdminClient.from(o);
      const query = new URLSearchParams();
      if (o.recursive) query.set('recursive', 'true');
      if (o.dryRun) query.set('dryRun', 'true');
      const r = await client.call<DeleteSummary>(
        'DELETE',
        `/sites/${encodeURIComponent(assertSiteCode(code))}?${query}`,
      );
      if (o.json) {
        printJson(r);
        return;
      }
      const verb = r.dryRun ? 'would remove' : 'removed';
      process.stdout.write(`${r.dryRun ? 'dry run: ' : ''}site ${r.sites.join(', ')} ${r.dryRun ? 'would be' : 'is'} deleted
`);
      process.stdout.write(`  jobs ${r.dryRun ? 'to cancel' : 'cancelled'}: ${r.jobs.length} (${formatBytes(r.bytesQueued)} queued)
`);
      process.stdout.write(`  ${verb}: ${r.assignments.length} DP assignments, ${r.statuses} package statuses${r.address ? ', the address' : ''}
`);
      if (!r.dryRun)
        process.stdout.write(`  the site itself: ${r.told}
`);
    });

  serverOptions(site.command('purge').argument('<code>', 'site code'))
    .description(
      'repair: remove every trace of CODE from this site, and queue the same at the sites that know it',
    )
    .action(async (code: string, o: CommonOptions) => {
      const r = await (await AdminClient.from(o)).post<PurgeSummary>(
        `/sites/${encodeURIComponent(assertSiteCode(code))}/purge`,
        {},
      );
      if (o.json) {
        printJson(r);
        return;
      }
      const removed = Object.entries(r.removed).filter(([, n]) => n > 0);
      process.stdout.write(
        removed.length
          ? `removed: ${removed.map(([k, n]) => `${n} ${k}`).join(', ')}
`
          : `nothing of ${r.site} left to remove
`,
      );
      if (r.queuedAt.length)
        process.stdout.write(`queued the same purge at: ${r.queuedAt.join(', ')}
`);
    });

  serverOptions(site.command('list'))
    .description('every site this site knows')
    .action(async (o: CommonOptions) => {
      const rows = await (await AdminClient.from(o)).get<SiteView[]>('/sites');
      printRows(!!o.json, rows, [
        ['code', (r) => r.code],
        ['type', (r) => r.type],
        ['parent', (r) => r.parent],
        ['state', (r) => colourState(r.state)],
        ['last contact', (r) => r.lastContact],
        ['url', (r) => r.url],
        ['error', (r) => r.error],
      ]);
    });

  serverOptions(site.command('show').argument('<code>', 'site code'))
    .description('one site with its install phases')
    .action(async (code: string, o: CommonOptions) => {
      const s = await (await AdminClient.from(o)).get<SiteView & { phases: SitePhase[] }>(
        `/sites/${encodeURIComponent(code)}`,
      );
      printObject(!!o.json, s as unknown as Record<string, unknown>);
      if (!o.json && s.phases.length) {
        process.stdout.write('phases:\n');
        for (const p of s.phases)
          process.stdout.write(
            `  ${formatTime(p.at)}  ${p.name.padEnd(14)} ${colourState(p.state)}${p.error ? `  ${p.error}` : ''}\n`,
          );
      }
    });
}
