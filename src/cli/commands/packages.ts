import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import type { PackageView, UpdateView } from '../../packages/index.js';
import type { CloneResult as CloneView } from '../../replication/index.js';
import type { PackageStatus } from '../../status/index.js';
import { confirmed } from '../confirm.js';
import { type CommonOptions, collect, serverOptions } from '../options.js';
import { colourState, formatBytes, humanOutput, printJson, printObject, printRows } from '../output.js';
import { withImportProgress } from '../progress.js';
import { waitForInstalled } from '../wait.js';

function printPackage(json: boolean, p: PackageView): void {
  if (json) {
    printJson(p);
    return;
  }
  printObject(false, {
    id: p.id,
    name: p.name,
    sourceVersion: p.sourceVersion,
    origin: p.origin,
    size: formatBytes(p.size),
    files: p.files.length,
  });
}

export function registerPackageCommands(program: Command): void {
  const pkg = program.command('package').description('packages: versioned sets of files to distribute');

  serverOptions(pkg.command('create'))
    .description('create a package from a source folder the site server can read; prints its id')
    .requiredOption('--name <name>', 'package name')
    .requiredOption('--source <dir>', 'source folder')
    .action(async (o: CommonOptions & { name: string; source: string }) => {
      const client = await AdminClient.from(o);
      const p = await withImportProgress(client, !!o.json, (importId) =>
        client.post<PackageView>('/packages', { name: o.name, source: resolve(o.source), importId }),
      );
      printPackage(!!o.json, p);
    });

  serverOptions(pkg.command('update').argument('<id>', 'package id'))
    .description('new source version from the source folder')
    .option('--source <dir>', 'source folder (default: the one it was created from)')
    .option('--wait', 'then wait until every assigned DP has the new version (exit 1 if one fails)')
    .action(async (id: string, o: CommonOptions & { source?: string; wait?: boolean }) => {
      const client = await AdminClient.from(o);
      const p = await withImportProgress(client, !!o.json, (importId) =>
        client.post<UpdateView>(`/packages/${encodeURIComponent(id)}/update`, {
          source: o.source ? resolve(o.source) : undefined,
          importId,
        }),
      );
      if (!p.changed && !o.json)
        process.stdout.write(`no change: package ${p.id} is still source version ${p.sourceVersion}\n`);
      else printPackage(!!o.json, p);
      if (o.wait && p.changed) {
        // The DPs the new version goes to (a DP being unassigned keeps its old version's row).
        const dps = (await client.get<PackageStatus[]>('/status/packages', { package: id }))
          .filter((r) => r.sourceVersion === p.sourceVersion)
          .map((r) => r.dp);
        if (!(await waitForInstalled(client, p.id, dps, p.sourceVersion, !!o.json))) process.exitCode = 1;
      }
    });

  serverOptions(pkg.command('list'))
    .description('packages this site holds')
    .action(async (o: CommonOptions) => {
      const rows = await (await AdminClient.from(o)).get<PackageView[]>('/packages');
      printRows(!!o.json, rows, [
        ['id', (r) => r.id],
        ['name', (r) => r.name],
        ['version', (r) => r.sourceVersion],
        ['origin', (r) => r.origin],
        ['size', (r) => formatBytes(r.size)],
      ]);
    });

  serverOptions(pkg.command('show').argument('<id>', 'package id'))
    .description('one package with its files')
    .action(async (id: string, o: CommonOptions) => {
      const p = await (await AdminClient.from(o)).get<PackageView>(`/packages/${encodeURIComponent(id)}`);
      printPackage(!!o.json, p);
      if (humanOutput())
        printRows(false, p.files, [
          ['path', (f) => f.path],
          ['size', (f) => formatBytes(f.size)],
          ['sha256', (f) => f.sha256, 'wide'],
        ]);
    });

  const dp = program.command('dp').description('distribution points');

  serverOptions(dp.command('list'))
    .description("DPs this site knows: each site's default DP and the named ones")
    .option('--site <code>', 'only this site')
    .action(async (o: CommonOptions & { site?: string }) => {
      const rows = await (await AdminClient.from(o)).get<
        { dp: string; siteState: string; url: string | null; packages: number; installed: number }[]
      >('/dps', { site: o.site });
      printRows(!!o.json, rows, [
        ['dp', (r) => r.dp],
        ['site state', (r) => colourState(r.siteState)],
        ['packages', (r) => r.packages],
        ['installed', (r) => r.installed],
        ['url', (r) => r.url, 'wide'],
      ]);
    });

  serverOptions(dp.command('add'))
    .description("add a named DP (CODE/NAME) to a site; send it to that site's own server")
    .requiredOption('--site <code>', "the site (this server's own code)")
    .requiredOption('--name <name>', 'the DP name: 1-32 characters A-Z, a-z, 0-9, _ or -')
    .option('--url <url>', "where clients download from (default: the site's URL, /dps/NAME/)")
    .action(async (o: CommonOptions & { site: string; name: string; url?: string }) => {
      const r = await (await AdminClient.from(o)).post<{ dp: string; url: string }>('/dps', {
        site: o.site,
        name: o.name,
        url: o.url,
      });
      if (o.json) printJson(r);
      else process.stdout.write(`added DP ${r.dp}, serving at ${r.url}\n`);
    });

  serverOptions(dp.command('remove').argument('<dp>', 'the named DP: CODE/NAME'))
    .description("remove a named DP with its assignments and status; send it to that site's own server")
    .option('--force', 'also when packages are assigned to it (they are unassigned from it)')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .action(async (name: string, o: CommonOptions & { force?: boolean; yes?: boolean }) => {
      const question = `Remove DP ${name}? Its packages are no longer served there.`;
      if (!(await confirmed(o.yes, `dp remove removes DP ${name}`, question))) return;
      const r = await (await AdminClient.from(o)).post<{ dp: string; assignments: number; statuses: number }>(
        '/dps/remove',
        { dp: name, force: !!o.force },
      );
      if (o.json) printJson(r);
      else
        process.stdout.write(
          `removed DP ${r.dp} (${r.assignments} assignments, ${r.statuses} status rows)\n`,
        );
    });

  serverOptions(dp.command('clone'))
    .description('assign to one DP every package assigned to another, in one transaction')
    .requiredOption('--from <dp>', 'the DP to copy from: CODE or CODE/NAME')
    .requiredOption('--to <dp>', 'the DP to copy to: CODE or CODE/NAME')
    .option('--dry-run', 'say what would be added, and what the target lacks, changing nothing')
    .action(async (o: CommonOptions & { from: string; to: string; dryRun?: boolean }) => {
      const r = await (await AdminClient.from(o)).post<CloneView>('/dps/clone', {
        from: o.from,
        to: o.to,
        dryRun: !!o.dryRun,
      });
      if (o.json) {
        printJson(r);
        return;
      }
      const verb = r.dryRun ? 'would assign' : 'assigned';
      process.stdout.write(`${verb} ${r.added.length} packages of ${r.from} to ${r.to}\n`);
      if (r.added.length)
        process.stdout.write(`${r.dryRun ? 'would add' : 'added'}: ${r.added.join(', ')}\n`);
      if (r.already.length) process.stdout.write(`already on ${r.to}: ${r.already.length}\n`);
      for (const s of r.skipped) process.stdout.write(`skipped ${s.package}: ${s.reason}\n`);
      process.stdout.write(
        `${r.to} ${r.dryRun ? 'would lack' : 'lacks'} ${formatBytes(r.bytesMissing)} of them\n`,
      );
    });

  const verbs = {
    assign: 'distribute a package to DPs',
    unassign: 'remove a package from DPs',
    redistribute: 'send a package to DPs again (after Install Failed)',
  } as const;
  for (const [verb, description] of Object.entries(verbs)) {
    const cmd = serverOptions(dp.command(verb).argument('<id>', 'package id'))
      .description(description)
      .requiredOption('--dp <dp...>', 'DP: CODE or CODE/NAME (repeatable)', collect);
    if (verb === 'unassign') cmd.option('--yes', 'do not ask (needed when not on a terminal)');
    else cmd.option('--wait', 'then wait until the package is Installed at each DP (exit 1 if one fails)');
    cmd.action(async (id: string, o: CommonOptions & { dp: string[]; yes?: boolean; wait?: boolean }) => {
      const client = await AdminClient.from(o);
      if (verb === 'unassign') {
        const question = `Remove package ${id} from ${o.dp.join(', ')}? Its files go from those DPs.`;
        if (!(await confirmed(o.yes, `dp unassign removes package ${id} from DPs`, question))) return;
      }
      const r = await client.post<Record<string, unknown>>(`/packages/${encodeURIComponent(id)}/${verb}`, {
        dps: o.dp,
      });
      if (o.json) printJson(r);
      else
        for (const [k, v] of Object.entries(r))
          if (Array.isArray(v) && v.length) process.stdout.write(`${k}: ${v.join(', ')}\n`);
      if (o.wait) {
        const version = (await client.get<PackageView>(`/packages/${encodeURIComponent(id)}`)).sourceVersion;
        if (!(await waitForInstalled(client, id, o.dp, version, !!o.json))) process.exitCode = 1;
      }
    });
  }
}
