import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import { OutpostError } from '../../errors/index.js';
import type { ExportedFile, PreloadSummary } from '../../replication/index.js';
import { type CommonOptions, collect, serverOptions } from '../options.js';
import { formatBytes, printJson, printRows } from '../output.js';
import { withLibraryProgress } from '../progress.js';
import { registerContentVerify } from './verify.js';

function printPreload(s: PreloadSummary): void {
  const out = process.stdout;
  const from = s.fromDp ? `DP ${s.fromDp.dp} (${s.fromDp.url})` : s.dir;
  out.write(
    `preloaded from ${from}: ${s.chunks.imported} chunks (${formatBytes(s.chunks.bytes)}) imported, ` +
      `${s.chunks.alreadyHeld} (${formatBytes(s.chunks.alreadyHeldBytes)}) already here, ` +
      `${s.staleChunks} kept from stale versions; ${formatBytes(s.bytesVerified)} verified\n`,
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
      "import package files, a copied content library or data directory from a folder on the site host, or another site's DP",
    )
    .option('--dir <dir>', 'folder on the site server host to scan')
    .option(
      '--from-dp <url>',
      "another site's DP to fetch from instead (http://HOST:PORT/dp, or /dps/NAME for a named DP)",
    )
    .action(async (ids: string[], o: CommonOptions & { dir?: string; fromDp?: string }) => {
      if ((o.dir === undefined) === (o.fromDp === undefined))
        throw new OutpostError('OUTPOST_BAD_INPUT', 'give either --dir DIR or --from-dp URL', {
          hint: 'a folder on the site host, or the DP of a neighbouring site',
        });
      const client = await AdminClient.from(o);
      const source = o.dir === undefined ? { fromDp: o.fromDp } : { dir: resolve(o.dir) };
      const label = o.dir === undefined ? 'fetching' : 'verifying';
      const s = await withLibraryProgress(client, !!o.json, label, (progressId) =>
        client.post<PreloadSummary>('/content/preload', { ...source, ids, progressId }),
      );
      if (o.json) printJson(s);
      else printPreload(s);
    });
  registerContentVerify(content);
}
