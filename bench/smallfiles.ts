/**
 * A package of very many small files: how long `package create` takes and how much memory the site
 * server needs for it, and how long the package takes to reach Installed at a child, against rsync
 * copying and sha256sum hashing the same files in the same run. See docs/BENCHMARKS.md.
 *
 *   npm run build && node dist/bench/smallfiles.js [--files N] [--json]
 */
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Hierarchy, startHierarchy, TWO_LEVELS } from '../src/demo/index.js';
import { machineInfo, run, sleep, syncDisks, versionOf } from './tools.js';

const PER_FOLDER = 1000;
const MIN_SIZE = 64;
const MAX_SIZE = 4096;

/** Writes `n` files of random bytes and random sizes, a thousand to a folder; returns their paths and total size. */
async function makeFiles(dir: string, n: number): Promise<{ paths: string[]; bytes: number }> {
  const paths: string[] = [];
  let bytes = 0;
  const buf = Buffer.allocUnsafe(MAX_SIZE);
  for (let i = 0; i < n; i++) {
    const folder = `d${String(Math.floor(i / PER_FOLDER)).padStart(4, '0')}`;
    if (i % PER_FOLDER === 0) await mkdir(join(dir, folder), { recursive: true });
    const size = MIN_SIZE + Math.floor(Math.random() * (MAX_SIZE - MIN_SIZE + 1));
    const path = `${folder}/f${String(i).padStart(6, '0')}.bin`;
    await writeFile(join(dir, path), randomFillSync(buf.subarray(0, size)));
    paths.push(path);
    bytes += size;
  }
  return { paths, bytes };
}

/** A process's resident memory now (`VmRSS`) or its peak (`VmHWM`), in MiB. */
function memoryMiB(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return Math.round(kb / 1024);
}

/** Peak resident memory of a process since it started or since {@link resetPeak}, in MiB. */
function peakMiB(pid: number | undefined): number {
  return memoryMiB(pid, 'VmHWM');
}

/** Resets a process's peak resident memory to what it holds now (Linux: clear_refs 5). */
function resetPeak(pid: number | undefined): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  await syncDisks();
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

type Row = { dp?: string; state: string; error?: string | null; updatedAt: number };

/** Create at C01, assign to S02, wait for Installed there; checks a sample of what S02's DP serves. */
async function outpostRun(h: Hierarchy, src: string, paths: string[], bytes: number, timeoutMs: number) {
  const { C01, S02 } = h.sites;
  let pkg: { id: string; size: number; files: unknown[] } | undefined;
  const create = await timed(async () => {
    pkg = await C01.admin.post('/packages', { name: 'small files', source: src });
  });
  if (!pkg) throw new Error('package create returned nothing');
  if (pkg.size !== bytes || pkg.files.length !== paths.length)
    throw new Error(
      `package holds ${pkg.files.length} files of ${pkg.size} bytes, expected ${paths.length} of ${bytes}`,
    );
  const createPeak = peakMiB(C01.process.child.pid);
  // The transfer's peaks are its own, not create's; what C01 still holds after create is the floor.
  const senderStart = memoryMiB(C01.process.child.pid, 'VmRSS');
  resetPeak(C01.process.child.pid);
  resetPeak(S02.process.child.pid);
  const id = pkg.id;
  await syncDisks();
  const t0 = Date.now();
  await C01.admin.post(`/packages/${id}/assign`, { dps: ['S02'] });
  let installed: number | undefined;
  for (const deadline = t0 + timeoutMs; Date.now() < deadline && installed === undefined; await sleep(200)) {
    const row = (await S02.admin.get<Row[]>('/status/packages', { package: id })).find((r) => r.dp === 'S02');
    if (row?.state === 'Install Failed') throw new Error(`install failed at S02: ${row.error}`);
    if (row?.state === 'Installed') installed = (row.updatedAt - t0) / 1000;
  }
  if (installed === undefined) throw new Error(`not Installed at S02 within ${timeoutMs / 1000} s`);
  // Every 100th file, downloaded from S02's DP and compared with the source.
  for (let i = 0; i < paths.length; i += 100) {
    const res = await fetch(`${S02.url}/dp/${id}/${paths[i]}`);
    const got = createHash('sha256')
      .update(Buffer.from(await res.arrayBuffer()))
      .digest('hex');
    const want = createHash('sha256')
      .update(readFileSync(join(src, paths[i])))
      .digest('hex');
    if (!res.ok || got !== want) throw new Error(`S02's DP serves ${paths[i]} wrong (${res.status})`);
  }
  return {
    create,
    createPeakMiB: createPeak,
    installed,
    senderStartMiB: senderStart,
    senderPeakMiB: peakMiB(C01.process.child.pid),
    receiverPeakMiB: peakMiB(S02.process.child.pid),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { files: { type: 'string', default: '100000' }, json: { type: 'boolean', default: false } },
  });
  const n = Number(values.files);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
    throw new Error('--files must be an integer from 1 to 1,000,000');
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  const machine = {
    ...machineInfo(),
    rsync: versionOf('rsync', ['--version']),
  };
  for (const [k, v] of Object.entries(machine)) say(`${k.padEnd(7)} ${v}`);
  const tmp = await mkdtemp(join(tmpdir(), 'outpost-smallfiles-'));
  let hierarchy: Promise<Hierarchy> | undefined;
  const cleanup = async () => {
    await hierarchy?.then((h) => h.stop()).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(2)));
  try {
    const src = join(tmp, 'src');
    const { paths, bytes } = await makeFiles(src, n);
    say(`data    ${n} files of ${MIN_SIZE}–${MAX_SIZE} random bytes, ${(bytes / 1e6).toFixed(0)} MB in all`);
    const dest = join(tmp, 'dest');
    const rsync = await timed(() => run('rsync', ['-a', `${src}/`, `${dest}/`], 600_000));
    await rm(dest, { recursive: true, force: true });
    const hash = await timed(() =>
      run('sh', ['-c', `cd '${src}' && find . -type f -print0 | xargs -0 sha256sum > /dev/null`], 600_000),
    );
    hierarchy = startHierarchy(join(tmp, 'outpost'), TWO_LEVELS);
    const o = await outpostRun(await hierarchy, src, paths, bytes, 900_000);
    const results = {
      files: n,
      bytes,
      rsyncLocalCopyS: Number(rsync.toFixed(2)),
      sha256sumS: Number(hash.toFixed(2)),
      createS: Number(o.create.toFixed(2)),
      createPeakMiB: o.createPeakMiB,
      installedS: Number(o.installed.toFixed(2)),
      senderStartMiB: o.senderStartMiB,
      senderPeakMiB: o.senderPeakMiB,
      receiverPeakMiB: o.receiverPeakMiB,
    };
    say('\n| step | seconds | peak memory of the site server |\n| --- | ---: | ---: |');
    say(`| rsync -a to a local folder | ${results.rsyncLocalCopyS} | |`);
    say(`| sha256sum of every file | ${results.sha256sumS} | |`);
    say(`| Outpost package create (C01) | ${results.createS} | ${results.createPeakMiB} MiB |`);
    say(
      `| Outpost assign to Installed at S02 | ${results.installedS} | C01 ${results.senderPeakMiB} MiB (${results.senderStartMiB} at the start), S02 ${results.receiverPeakMiB} MiB |`,
    );
    say(
      `\ncreate/rsync: ${(results.createS / results.rsyncLocalCopyS).toFixed(2)}x the time (target: create within 30 s, under 300 MB)`,
    );
    if (values.json) console.log(JSON.stringify({ machine, results }, null, 2));
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
