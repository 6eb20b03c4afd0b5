/**
 * `content preload --from-dp` throughput on loopback: a package of 256 MiB (4 files of 64 MiB of
 * random bytes) installed on S02's DP; S03 preloads it from there (fetch with range requests, cut
 * into chunks, SHA-256 on every core, store and fsync into its content library), against curl
 * fetching the same files from the same DP to /dev/null, in the same run. See docs/BENCHMARKS.md.
 *
 *   npm run build && node dist/bench/preload-dp.js
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHierarchy, waitFor } from '../src/demo/index.js';
import type { PackageView } from '../src/packages/index.js';
import type { PreloadSummary } from '../src/replication/index.js';
import type { PackageStatus } from '../src/status/index.js';
import { machineInfo, run, syncDisks } from './tools.js';

const MiB = 1024 * 1024;
const FILES = 4;
const FILE_MIB = 64;

const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-preload-dp-'));
const h = await startHierarchy(dir, [
  { code: 'C01', type: 'central' },
  { code: 'S02', type: 'secondary', parent: 'C01' },
  { code: 'S03', type: 'secondary', parent: 'C01' },
]);
try {
  const { C01, S02, S03 } = h.sites;
  const source = join(dir, 'source');
  mkdirSync(source);
  for (let i = 0; i < FILES; i++)
    writeFileSync(join(source, `part-${i}.bin`), randomFillSync(Buffer.alloc(FILE_MIB * MiB)));
  const pkg = await C01.admin.post<PackageView>('/packages', { name: 'bench', source });
  await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
  await waitFor('the package Installed on S02', 600_000, async () => {
    const rows = await S02.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
    return rows.some((r) => r.dp === 'S02' && r.state === 'Installed');
  });
  await syncDisks();

  // curl: the same files from the same DP, the bytes thrown away (no hashing, no storing).
  let start = process.hrtime.bigint();
  for (let i = 0; i < FILES; i++)
    await run('curl', ['-sf', '-o', '/dev/null', `${S02.url}/dp/${pkg.id}/part-${i}.bin`], 600_000);
  const curl = Number(process.hrtime.bigint() - start) / 1e9;

  start = process.hrtime.bigint();
  const s = await S03.admin.post<PreloadSummary>('/content/preload', { fromDp: `${S02.url}/dp` });
  const preload = Number(process.hrtime.bigint() - start) / 1e9;
  if (s.imported[0] !== pkg.id || s.skipped.length)
    throw new Error(`unexpected summary: ${JSON.stringify(s)}`);

  const rate = (seconds: number) => `${(pkg.size / MiB / seconds).toFixed(0)} MiB/s`;
  console.log(
    JSON.stringify(
      {
        machine: machineInfo(),
        bytes: pkg.size,
        chunks: s.chunks.imported,
        workers: availableParallelism(),
        curl: { seconds: curl, rate: rate(curl) },
        preloadFromDp: { seconds: preload, rate: rate(preload) },
        ratio: Number((curl / preload).toFixed(2)),
      },
      null,
      2,
    ),
  );
} finally {
  await h.stop();
  rmSync(dir, { recursive: true, force: true });
}
