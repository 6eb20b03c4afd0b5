import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import { assertPackageId } from '../../common/index.js';
import type { ChunkProblem, RepairedChunk, VerifyResult } from '../../replication/index.js';
import { type CommonOptions, serverOptions } from '../options.js';
import { type Column, formatBytes, printJson, printRows } from '../output.js';

const PROBLEM_COLUMNS: Column<ChunkProblem>[] = [
  ['package', (p) => p.package ?? '(none)'],
  ['problem', (p) => p.problem],
  ['chunk', (p) => p.sha.slice(0, 12)],
  ['size', (p) => (p.size ? formatBytes(p.size) : '')],
  ['file', (p) => p.file],
  ['hash', (p) => p.sha, 'wide'],
];

const REPAIR_COLUMNS: Column<RepairedChunk>[] = [
  ['package', (p) => p.package ?? '(none)'],
  ['chunk', (p) => p.sha.slice(0, 12)],
  ['file', (p) => p.file],
  ['repaired', (p) => (p.repaired ? 'yes' : 'NO')],
  ['detail', (p) => p.detail],
];

/** `content verify`, in the `content` group. */
export function registerContentVerify(content: Command): void {
  serverOptions(content.command('verify'))
    .description(
      "re-hash the content library and the DP's packages; exit 1 while a chunk is damaged or missing",
    )
    .option('--package <id>', 'only this package')
    .option('--repair', 'fetch the damaged and missing chunks (only those) from the parent')
    .action(async (o: CommonOptions & { package?: string; repair?: boolean }) => {
      if (o.package) assertPackageId(o.package);
      const client = await AdminClient.from(o);
      const r = await client.post<VerifyResult>('/content/verify', {
        package: o.package,
        repair: !!o.repair,
      });
      if (o.json) printJson(r);
      else {
        const damaged = r.problems.filter((p) => p.problem === 'damaged').length;
        process.stdout.write(
          `${r.site}: ${r.packages.length} packages, ${r.chunks} chunks (${formatBytes(r.bytes)}) re-hashed; ${damaged} damaged, ${r.problems.length - damaged} missing\n`,
        );
        for (const s of r.skipped) process.stdout.write(`skipped ${s.package}: ${s.reason}\n`);
        if (r.repair) {
          printRows(false, r.repair.items, REPAIR_COLUMNS);
          const from = r.repair.from ? ` from ${r.repair.from}` : '';
          process.stdout.write(`fetched ${formatBytes(r.repair.bytes)}${from}\n`);
        } else if (r.problems.length) printRows(false, r.problems, PROBLEM_COLUMNS);
      }
      if (!r.clean) process.exitCode = 1;
    });
}
