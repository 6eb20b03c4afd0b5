import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import type { ExportedFile, PreloadSummary } from '../../replication/index.js';
import { type CommonOptions, collect, serverOptions } from '../options.js';
import { formatBytes, printJson, printRows } from '../output.js';
import { withLibraryProgress } from '../progress.js';
import { registerContentVerify } from './verify.js';

function printPreload(s: PreloadSummary): void {
  const out = process.stdout;
  out.write(
    `preloaded from ${s.dir}: ${s.chunks.imported} chunks (${formatBytes(s.chunks.bytes)}) imported, ` +
      `${s.chunks.alreadyHeld} already here, ${s.staleChunks} kept from stale versions\n`,
  );
  if (s.importedVersions.length) {
    out.write('\nimported (whole in the content library):\n');
    printRows(false, s.importedVersions, [
      ['package', (r) => r.id],
      ['version', (r) => r.sourceVersion],
      ['chunks', (r) => r.chunks],
      ['size', (r) => formatBytes(r.bytes)],
    ]);
  }
  if (s.partial.length) {
    out.write('\npartly found (the parent sends the rest):\n');
    printRows(false, s.partial, [
      ['package', (r) => r.id],
      ['version', (r) => r.sourceVersion],
      ['missing', (r) => `${r.missingChunks} chunks, ${formatBytes(r.missingBytes)}`],
    ]);
  }
  if (s.skipped.length) {
    out.write('\nnot taken:\n');
    printRows(false, s.skipped, [
      ['item', (r) => r.path ?? r.id ?? ''],
      ['reason', (r) => r.reason],
      ['detail', (r) => r.detail],
    ]);
  }
}

export function registerContentCommands(program: Command): void {
  const content = program
    .command('content')
    .description("the site's content library: export, preload and verify");

  serverOptions(content.command('export'))
    .description('write one self-verifying package file per package version into a folder on the site host')
    .option('--package <id...>', 'package ids (repeatable, or comma-separated)', collect)
    .option('--dp <code>', 'every package assigned to this DP (CODE or CODE/NAME)')
    .requiredOption('--out <dir>', 'folder on the site server host to write the package files into')
    .action(async (o: CommonOptions & { package?: string[]; dp?: string; out: string }) => {
      const client = await AdminClient.from(o);
      const r = await withLibraryProgress(client, !!o.json, 'exporting', (progressId) =>
        client.post<{ out: string; files: ExportedFile[] }>('/content/export', {
          packages: o.package,
          dp: o.dp,
          out: resolve(o.out),
          progressId,
        }),
      );
      if (o.json) {
        printJson(r);
        return;
      }
      printRows(false, r.files, [
        ['package', (f) => f.id],
        ['version', (f) => f.sourceVersion],
        ['size', (f) => formatBytes(f.bytes)],
        ['state', (f) => f.state],
        ['file', (f) => f.file],
      ]);
    });

  serverOptions(content.command('preload').argument('[id...]', 'only these packages (default: every one)'))
    .description(
      'import package files, a copied content library or data directory from a folder on the site host',
    )
    .requiredOption('--dir <dir>', 'folder on the site server host to scan')
    .action(async (ids: string[], o: CommonOptions & { dir: string }) => {
      const client = await AdminClient.from(o);
      const s = await withLibraryProgress(client, !!o.json, 'verifying', (progressId) =>
        client.post<PreloadSummary>('/content/preload', { dir: resolve(o.dir), ids, progressId }),
      );
      if (o.json) printJson(s);
      else printPreload(s);
    });
  registerContentVerify(content);
}
