/**
 * Replication benchmark: Outpost parent→child on loopback against rsync (daemon mode) and curl
 * from nginx, on the same bytes, in the same run. See docs/BENCHMARKS.md.
 *
 *   npm run bench:replicate -- [--size-mib N] [--runs N] [--json]
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, type Hierarchy } from '../src/demo/index.js';
import {
  guardedBenchmark,
  machineInfo,
  requireTools,
  run,
  type Servers,
  sleep,
  startNginx,
  syncDisks,
  versionOf,
} from './tools.js';

const MiB = 1024 * 1024;
const POLL_MS = 50;
const TOOLS = ['rsync', 'nginx', 'curl'];

/** Best-of-N result for one tool. */
export interface ToolResult {
  tool: string;
  seconds: number[];
  best: number;
  mbPerS: number;
}

/**
 * Writes `sizeMiB` of random (incompressible, never repeating) bytes as one large file and two small
 * ones, synced, so no tool pays for write-back of the source and Outpost has nothing to deduplicate.
 */
export async function makeData(dir: string, sizeMiB: number): Promise<{ files: string[]; bytes: number }> {
  await mkdir(dir, { recursive: true });
  const total = sizeMiB * MiB;
  const small = [MiB, 64 * 1024 + 123].filter((n) => n < total / 4);
  const sizes = [total - small.reduce((a, b) => a + b, 0), ...small];
  const files = sizes.map((_, i) => (i === 0 ? 'big.bin' : `small-${i}.bin`));
  const block = Buffer.allocUnsafe(8 * MiB);
  for (const [i, size] of sizes.entries()) {
    const handle = await open(join(dir, files[i]), 'w', 0o644);
    for (let left = size; left > 0; left -= block.length) {
      await handle.write(randomFillSync(block.subarray(0, Math.min(left, block.length))));
    }
    await handle.sync();
    await handle.close();
  }
  return { files, bytes: total };
}

/** Total bytes of the regular files under `dir`: every run checks that everything arrived. */
async function bytesUnder(dir: string): Promise<number> {
  let sum = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) sum += (await stat(join(e.parentPath, e.name))).size;
  }
  return sum;
}

/** Starts an rsync daemon serving `src` as module `data`; returns the module's URL. */
async function startRsyncd(servers: Servers, tmp: string, src: string): Promise<string> {
  const port = await freePort();
  const conf = join(tmp, 'rsyncd.conf');
  // No chroot, so it also runs unprivileged; as root it reads as `nobody` (the tree is 0755/0644).
  const module = `[data]\n  path = ${src}\n  read only = yes\n`;
  await writeFile(
    conf,
    `pid file = ${tmp}/rsyncd.pid\nlog file = ${tmp}/rsyncd.log\nuse chroot = no\n${module}`,
  );
  const args = ['--daemon', '--no-detach', `--config=${conf}`, '--address=127.0.0.1', `--port=${port}`];
  await servers.daemon('rsync daemon', 'rsync', args, port);
  return `rsync://127.0.0.1:${port}/data/`;
}

/** Times one external copy into an empty `dest`, checks the byte count, then frees the space. */
async function timeCopy(dest: string, bytes: number, cmd: string, args: string[], timeoutMs: number) {
  await mkdir(dest);
  await syncDisks();
  const t0 = performance.now();
  await run(cmd, args, timeoutMs);
  const seconds = (performance.now() - t0) / 1000;
  const got = await bytesUnder(dest);
  if (got !== bytes) throw new Error(`${cmd} copied ${got} bytes, expected ${bytes}`);
  await rm(dest, { recursive: true, force: true });
  return seconds;
}

type Row = {
  kind?: string;
  dp?: string;
  state: string;
  error?: string | null;
  lastError?: string | null;
  updatedAt: number;
};

/** What the DP serves of a package, counted by downloading every file (after the clock stopped). */
async function servedBytes(url: string, id: string, files: string[]): Promise<number> {
  let total = 0;
  for (const path of files) {
    const res = await fetch(`${url}/dp/${id}/${path}`);
    if (!res.ok) throw new Error(`S02's DP answered ${res.status} for ${path}`);
    total += (await res.arrayBuffer()).byteLength;
  }
  return total;
}

/**
 * One Outpost run in a fresh two-site hierarchy: import the data at C01 (not timed), assign it to
 * S02's DP, and return seconds from the assign call until the C01→S02 job completed (transfer)
 * and until S02 itself recorded the package Installed (transfer + every file verified on its DP).
 * Times are the `updatedAt` the servers stamp (same machine clock), so polling adds no error.
 */
export async function outpostRun(h: Hierarchy, src: string, bytes: number, timeoutMs: number) {
  const { C01, S02 } = h.sites;
  const pkg = await C01.admin.post<{ id: string; size: number; files: { path: string }[] }>('/packages', {
    name: 'bench',
    source: src,
  });
  const files = pkg.files.map((f) => f.path);
  if (pkg.size !== bytes) throw new Error(`package holds ${pkg.size} bytes, expected ${bytes}`);
  await syncDisks();
  const t0 = Date.now();
  await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
  let transfer: number | undefined;
  for (const deadline = t0 + timeoutMs; Date.now() < deadline; await sleep(POLL_MS)) {
    if (transfer === undefined) {
      const job = (await C01.admin.get<Row[]>('/jobs', { package: pkg.id })).find(
        (j) => j.kind === 'package',
      );
      if (job?.state === 'failed') throw new Error(`Outpost job failed: ${job.lastError}`);
      if (job?.state === 'completed') transfer = (job.updatedAt - t0) / 1000;
    }
    // S02 is the DP's own site, so it knows first; C01 hears of Installed up to ~1 s later.
    const row = (await S02.admin.get<Row[]>('/status/packages', { package: pkg.id })).find(
      (r) => r.dp === 'S02',
    );
    if (row?.state === 'Install Failed') throw new Error(`install failed at S02: ${row.error}`);
    if (row?.state === 'Installed' && transfer !== undefined) {
      const got = await servedBytes(S02.url, pkg.id, files);
      if (got !== bytes) throw new Error(`S02's DP serves ${got} bytes, expected ${bytes}`);
      return { transfer, installed: (row.updatedAt - t0) / 1000 };
    }
  }
  throw new Error(`Outpost did not install ${pkg.id} at S02 within ${timeoutMs / 1000} s`);
}

function best(tool: string, seconds: number[], bytes: number): ToolResult {
  const b = Math.min(...seconds);
  const round = (x: number, digits: number) => Number(x.toFixed(digits));
  return {
    tool,
    seconds: seconds.map((s) => round(s, 3)),
    best: round(b, 3),
    mbPerS: round(bytes / 1e6 / b, 1),
  };
}

/** The whole benchmark; everything lives under one temp dir, removed at the end whatever happens. */
async function main(): Promise<void> {
  const opts = {
    'size-mib': { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
  } as const;
  const { values } = parseArgs({ options: { ...opts, json: { type: 'boolean', default: false } } });
  const sizeMiB = Number(values['size-mib']);
  const runs = Number(values.runs);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 4)
    throw new Error('--size-mib must be an integer of at least 4');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  requireTools(TOOLS);
  // With --json, stdout carries only the JSON; the human-readable lines go to stderr.
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  const machine = {
    ...machineInfo(),
    rsync: versionOf('rsync', ['--version']),
    nginx: versionOf('nginx', ['-v']),
    curl: versionOf('curl', ['--version']),
  };
  for (const [k, v] of Object.entries(machine)) say(`${k.padEnd(7)} ${v}`);
  say(
    `data    ${sizeMiB} MiB of random bytes; all of it stays in the page cache (${machine.memGiB} GiB RAM)`,
  );

  // A generous limit per step (>= 5 MB/s) and a watchdog over everything: the run always ends.
  const stepMs = 60_000 + sizeMiB * 200;
  const totalMs = 120_000 + stepMs * runs * 4;
  await guardedBenchmark('replicate', totalMs, async (tmp, servers) => {
    const src = join(tmp, 'src');
    const { files, bytes } = await makeData(src, sizeMiB);
    const rsyncUrl = await startRsyncd(servers, tmp, src);
    const httpUrl = (await startNginx(servers, tmp, src)).url;
    const times = {
      curl: [] as number[],
      rsync: [] as number[],
      transfer: [] as number[],
      installed: [] as number[],
    };
    // Rounds interleave the tools, so background load on a shared machine hits them alike.
    for (let r = 1; r <= runs; r++) {
      const dest = join(tmp, 'dest');
      const curlArgs = ['-sS', '--fail', ...files.flatMap((f) => ['-o', join(dest, f), `${httpUrl}/${f}`])];
      times.curl.push(await timeCopy(dest, bytes, 'curl', curlArgs, stepMs));
      times.rsync.push(await timeCopy(dest, bytes, 'rsync', ['-a', rsyncUrl, `${dest}/`], stepMs));
      const o = await servers.withHierarchy(join(tmp, `outpost-${r}`), (h) =>
        outpostRun(h, src, bytes, stepMs),
      );
      times.transfer.push(o.transfer);
      times.installed.push(o.installed);
      const f = (xs: number[]) => `${xs[r - 1].toFixed(2)} s`;
      say(
        `round ${r}/${runs}: curl ${f(times.curl)}, rsync ${f(times.rsync)}, Outpost transfer ${f(times.transfer)}, Installed ${f(times.installed)}`,
      );
    }
    const results = [
      best('curl from nginx', times.curl, bytes),
      best('rsync daemon', times.rsync, bytes),
      best('Outpost, transfer only', times.transfer, bytes),
      best('Outpost, to Installed', times.installed, bytes),
    ];
    const [curl, rsync, transfer, installed] = results.map((t) => t.mbPerS);
    const ratio = (x: number) => Number(x.toFixed(3));
    const ratios = {
      installedVsCurl: ratio(installed / curl),
      installedVsRsync: ratio(installed / rsync),
      transferVsCurl: ratio(transfer / curl),
      transferVsRsync: ratio(transfer / rsync),
    };
    say(`\n| tool | best of ${runs} (s) | MB/s | all runs (s) |\n| --- | ---: | ---: | --- |`);
    for (const t of results)
      say(`| ${t.tool} | ${t.best.toFixed(2)} | ${t.mbPerS.toFixed(0)} | ${t.seconds.join(', ')} |`);
    const x = (r: number) => `${r.toFixed(2)}x`;
    say(
      `\nOutpost/curl-from-nginx: ${x(ratios.installedVsCurl)} to Installed (target >= 0.8), ${x(ratios.transferVsCurl)} transfer only`,
    );
    say(
      `Outpost/rsync:           ${x(ratios.installedVsRsync)} to Installed (target >= 1.0), ${x(ratios.transferVsRsync)} transfer only`,
    );
    say('MB/s = 10^6 bytes per second of wall time.');
    if (values.json) console.log(JSON.stringify({ sizeMiB, bytes, runs, machine, results, ratios }, null, 2));
  });
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
