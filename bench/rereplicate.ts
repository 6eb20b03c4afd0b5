/**
 * Re-replication of a changed package: bytes on the wire for Outpost (C01 → S02, every byte of the
 * link counted both ways by proxies) against `rsync --stats` on the same change of the same file, in
 * the same run. The package is one file of random bytes (256 MiB by default); each pattern changes
 * 1 % of it in place, one after the other, and both tools replicate each change. See
 * docs/BENCHMARKS.md. Needs rsync (apt-get install -y rsync).
 *
 *   npm run bench:rereplicate -- [--size-mib 256] [--json]
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { startHierarchy, waitFor } from '../src/demo/index.js';
import type { PackageView } from '../src/packages/index.js';
import type { PackageStatus } from '../src/status/index.js';
import { bytesReceived, countedChild, machineInfo, runBenchmark, versionOf } from './tools.js';

const MiB = 1024 * 1024;

/** A change of 1 % of the file: `pieces` stretches of `piece` bytes, spread evenly (one: in the middle). */
interface Pattern {
  name: string;
  pieces: number;
  piece: number;
}

function patterns(size: number): Pattern[] {
  const onePercent = Math.round(size / 100);
  return [
    { name: 'contiguous', pieces: 1, piece: onePercent },
    { name: 'scattered, 64 KiB pieces', pieces: Math.ceil(onePercent / (64 * 1024)), piece: 64 * 1024 },
    { name: 'scattered, 4 KiB pieces', pieces: Math.ceil(onePercent / 4096), piece: 4096 },
  ];
}

/** Overwrites the pieces of `p` in `file` (of `size` bytes) with new random bytes, synced. */
async function change(file: string, size: number, p: Pattern): Promise<number> {
  const handle = await open(file, 'r+');
  const stride = Math.floor(size / p.pieces);
  try {
    for (let i = 0; i < p.pieces; i++) {
      const at = i * stride + Math.floor((stride - p.piece) / 2);
      await handle.write(randomFillSync(Buffer.alloc(p.piece)), 0, p.piece, at);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return p.pieces * p.piece;
}

/**
 * rsync's own count of what crossed between its two ends, from `--stats`. Run without blocking the
 * event loop, so the HTTP clients' idle connections see the servers close them meanwhile.
 */
async function rsyncDelta(src: string, dest: string): Promise<{ wire: number; literal: number }> {
  const args = ['-a', '-I', '--no-whole-file', '--stats', `${src}/`, `${dest}/`];
  const { stdout } = await promisify(execFile)('rsync', args, { encoding: 'utf8' });
  const num = (label: string) => {
    const m = new RegExp(`${label}: ([\\d,]+)`).exec(stdout);
    if (!m) throw new Error(`rsync --stats printed no "${label}"`);
    return Number(m[1].replaceAll(',', ''));
  };
  return { wire: num('Total bytes sent') + num('Total bytes received'), literal: num('Literal data') };
}

runBenchmark('rereplicate', async (tmp, onStop) => {
  const { values } = parseArgs({
    options: { 'size-mib': { type: 'string', default: '256' }, json: { type: 'boolean', default: false } },
  });
  const sizeMiB = Number(values['size-mib']);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 16)
    throw new Error('--size-mib must be an integer of at least 16');
  if (spawnSync('which', ['rsync']).status !== 0) {
    console.error('error: rsync not found; install with: apt-get install -y rsync');
    process.exit(1);
  }
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  const machine = { ...machineInfo(), rsync: versionOf('rsync', ['--version']) };
  for (const [k, v] of Object.entries(machine)) say(`${k.padEnd(7)} ${v}`);

  const size = sizeMiB * MiB;
  const src = join(tmp, 'src');
  const mirror = join(tmp, 'mirror');
  const file = join(src, 'big.bin');
  await mkdir(src);
  const handle = await open(file, 'w');
  const block = Buffer.alloc(8 * MiB);
  for (let left = size; left > 0; left -= block.length)
    await handle.write(randomFillSync(block.subarray(0, Math.min(left, block.length))));
  await handle.sync();
  await handle.close();
  await rsyncDelta(src, mirror); // the first, whole copy: not counted

  const h = await startHierarchy(join(tmp, 'sites'), [{ code: 'C01', type: 'central' }]);
  onStop(() => h.stop());
  const { C01 } = h.sites;
  const { link, site: S02 } = await countedChild(C01, 'S02', join(tmp, 'sites', 'S02'));
  onStop(() => link.close());
  onStop(() => S02.process.stop());
  const content = () => bytesReceived(S02.url);
  const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Re-replicated', source: src });
  await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
  // Installed as C01 sees it: the status report that says so has crossed the link too.
  const installed = (version: number) =>
    waitFor(`${pkg.id} v${version} Installed at S02`, 60_000 + sizeMiB * 1000, async () => {
      const rows = await C01.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
      return rows.some((r) => r.dp === 'S02' && r.state === 'Installed' && r.sourceVersion === version);
    });
  await installed(1);

  const rows = [];
  let version = 1;
  for (const p of patterns(size)) {
    const changed = await change(file, size, p);
    const rsync = await rsyncDelta(src, mirror);
    link.reset();
    const before = await content();
    const updated = await C01.admin.post<PackageView>(`/packages/${pkg.id}/update`, {});
    version = updated.sourceVersion;
    await installed(version);
    const wire = link.bytes();
    const sent = (await content()) - before;
    const row = {
      pattern: p.name,
      changed,
      rsyncWire: rsync.wire,
      rsyncLiteral: rsync.literal,
      outpostWire: wire.total,
      outpostContent: sent,
      outpostOther: wire.total - sent,
      ratio: Number((wire.total / rsync.wire).toFixed(2)),
    };
    rows.push(row);
    say(
      `${p.name}: ${changed} B changed; rsync ${rsync.wire} B on the wire (${rsync.literal} literal); Outpost ${wire.total} B (${sent} content, ${wire.total - sent} other: ${wire.parentToChild} down, ${wire.childToParent} up); Outpost/rsync ${row.ratio}`,
    );
  }
  const f = (n: number) => `${(n / MiB).toFixed(2)} MiB`;
  say(
    `\n| change (1 % of ${sizeMiB} MiB) | rsync --stats: sent + received | Outpost on the wire | of which content | Outpost / rsync |`,
  );
  say('| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    say(
      `| ${r.pattern} | ${f(r.rsyncWire)} | ${f(r.outpostWire)} | ${f(r.outpostContent)} | ${r.ratio.toFixed(2)}× |`,
    );
  if (values.json) console.log(JSON.stringify({ sizeMiB, machine, rows }, null, 2));
});
