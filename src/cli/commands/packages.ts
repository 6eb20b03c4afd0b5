import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import type { PackageView } from '../../packages/index.js';
import { type CommonOptions, collect, serverOptions } from '../options.js';
import { colourState, formatBytes, printJson, printObject, printRows } from '../output.js';
import { withImportProgress } from '../progress.js';

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
    .action(async (id: string, o: CommonOptions & { source?: string }) => {
      const client = await AdminClient.from(o);
      const p = await withImportProgress(client, !!o.json, (importId) =>
        client.post<PackageView>(`/packages/${encodeURIComponent(id)}/update`, {
          source: o.source ? resolve(o.source) : undefined,
          importId,
        }),
      );
      printPackage(!!o.json, p);
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
      if (!o.json)
        printRows(false, p.files, [
          ['path', (f) => f.path],
          ['size', (f) => formatBytes(f.size)],
          ['sha256', (f) => f.sha256],
        ]);
    });

  const dp = program.command('dp').description('distribution points');

  serverOptions(dp.command('list'))
    .description('DPs this site knows')
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
        ['url', (r) => r.url],
      ]);
    });

  const verbs = {
    assign: 'distribute a package to DPs',
    unassign: 'remove a package from DPs',
    redistribute: 'send a package to DPs again (after Install Failed)',
  } as const;
  for (const [verb, description] of Object.entries(verbs)) {
    serverOptions(dp.command(verb).argument('<id>', 'package id'))
      .description(description)
      .requiredOption('--dp <dp...>', 'DP: CODE or CODE/NAME (repeatable)', collect)
      .action(async (id: string, o: CommonOptions & { dp: string[] }) => {
        const r = await (await AdminClient.from(o)).post<Record<string, unknown>>(
          `/packages/${encodeURIComponent(id)}/${verb}`,
          { dps: o.dp },
        );
        if (o.json) return printJson(r);
        for (const [k, v] of Object.entries(r))
          if (Array.isArray(v) && v.length) process.stdout.write(`${k}: ${v.join(', ')}\n`);
      });
  }
}
