/**
 * Rebuild with a full preload: S02 holds N packages of random bytes; it stops and its data directory
 * is copied aside; new hardware replaces it (`site replace`, a join on a fresh data directory), is
 * preloaded from the copy, and every package is Installed again at C01. Every byte between C01 and
 * the new host is counted, both ways (proxies on the link): the content bytes sent must be 0 and
 * everything else (join, heartbeats, the manifests preload asks for, offers, assignments, status)
 * at most 0.1 % of the content. See docs/BENCHMARKS.md.
 *
 *   npm run bench:rebuild -- [--packages 20] [--size-mib 16] [--json]
 */
import { randomFillSync } from 'node:crypto';
import { cp, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHierarchy, waitFor } from '../src/demo/index.js';
import type { PackageView } from '../src/packages/index.js';
import type { PreloadSummary } from '../src/replication/index.js';
import type { ReplaceSiteResult } from '../src/sites/index.js';
import type { PackageStatus } from '../src/status/index.js';
import { bytesReceived, countedChild, joinCounted, machineInfo, runBenchmark } from './tools.js';

const MiB = 1024 * 1024;

runBenchmark('rebuild', async (tmp, onStop) => {
  const { values } = parseArgs({
    options: {
      packages: { type: 'string', default: '20' },
      'size-mib': { type: 'string', default: '16' },
      json: { type: 'boolean', default: false },
    },
  });
  const count = Number(values.packages);
  const sizeMiB = Number(values['size-mib']);
  if (!Number.isInteger(count) || count < 1) throw new Error('--packages must be a positive integer');
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new Error('--size-mib must be a positive integer');
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  const machine = machineInfo();
  for (const [k, v] of Object.entries(machine)) say(`${k.padEnd(7)} ${v}`);

  const h = await startHierarchy(join(tmp, 'sites'), [{ code: 'C01', type: 'central' }]);
  onStop(() => h.stop());
  const { C01 } = h.sites;
  const oldDir = join(tmp, 'sites', 'S02-old');
  const { link, site: old } = await countedChild(C01, 'S02', oldDir);
  onStop(() => link.close());
  onStop(() => old.process.stop());

  const block = Buffer.alloc(MiB);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const source = join(tmp, 'sources', `p${i}`);
    await mkdir(source, { recursive: true });
    const handle = await open(join(source, 'app.bin'), 'w');
    for (let m = 0; m < sizeMiB; m++) await handle.write(randomFillSync(block));
    await handle.close();
    const pkg = await C01.admin.post<PackageView>('/packages', { name: `Rebuild ${i}`, source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    ids.push(pkg.id);
  }
  const content = count * sizeMiB * MiB;
  const allInstalled = (what: string) =>
    waitFor(what, 120_000 + count * sizeMiB * 1000, async () => {
      const rows = await C01.admin.get<PackageStatus[]>('/status/packages', { site: 'S02' });
      return rows.filter((r) => r.dp === 'S02' && r.state === 'Installed').length === count;
    });
  await allInstalled(`${count} packages Installed at the old S02`);

  // The old host stops; its data directory is copied whole (a full preload).
  await old.process.stop();
  const copy = join(tmp, 'S02-copy');
  await cp(oldDir, copy, { recursive: true });

  // The link stays closed while the new host preloads (its assignments would be offered at once).
  const hour = (new Date().getHours() + 2) % 24;
  await C01.admin.put('/addresses/S02', { schedule: `${hour}-${(hour + 1) % 24}` });
  const replaced = await C01.admin.post<ReplaceSiteResult>('/sites/S02/replace', {});
  link.reset();
  const t0 = performance.now();
  const site = await joinCounted(link, C01, 'S02', join(tmp, 'sites', 'S02-new'), replaced.joinToken);
  onStop(() => site.process.stop());
  const joined = performance.now();
  const preload = await site.admin.post<PreloadSummary>('/content/preload', { dir: copy });
  if (preload.imported.length !== count)
    throw new Error(`preload took ${preload.imported.length} of ${count} packages`);
  const preloaded = performance.now();
  await C01.admin.put('/addresses/S02', { schedule: null });
  const statusPending = await C01.admin.get<PackageStatus[]>('/status/packages', { site: 'S02' });
  if (statusPending.some((r) => r.state === 'Installed'))
    throw new Error('a package was Installed before the new host reported it');
  await allInstalled(`${count} packages Installed at the new S02`);
  const done = performance.now();

  const sent = await bytesReceived(site.url);
  const wire = link.bytes();
  const metadata = wire.total - sent;
  const result = {
    packages: count,
    sizeMiB,
    content,
    contentSent: sent,
    wire,
    metadata,
    metadataPercent: Number(((100 * metadata) / content).toFixed(4)),
    metadataPerPackage: Math.round(metadata / count),
    seconds: {
      join: Number(((joined - t0) / 1000).toFixed(1)),
      preload: Number(((preloaded - joined) / 1000).toFixed(1)),
      toInstalled: Number(((done - preloaded) / 1000).toFixed(1)),
    },
  };
  say(
    `\n${count} packages of ${sizeMiB} MiB (${(content / MiB).toFixed(0)} MiB), rebuilt with a full preload:`,
  );
  say(`  content bytes sent to the new host: ${sent} (target 0)`);
  say(
    `  everything else on the link: ${metadata} B (${wire.parentToChild} C01→S02, ${wire.childToParent} S02→C01) = ${result.metadataPercent} % of the content (target ≤ 0.1 %), ${result.metadataPerPackage} B a package`,
  );
  say(
    `  join ${result.seconds.join} s, preload ${result.seconds.preload} s, link opened → all Installed at C01 ${result.seconds.toInstalled} s`,
  );
  if (values.json) console.log(JSON.stringify({ machine, ...result }, null, 2));
  if (sent !== 0 || result.metadataPercent > 0.1) process.exitCode = 1;
});
