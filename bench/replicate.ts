/**
 * Replication benchmark: Outpost parent→child on loopback against rsync (daemon mode) and curl
 * from nginx, on the same bytes, in the same run. See docs/BENCHMARKS.md.
 *
 *   npm run bench:replicate -- [--size-mib N] [--runs N] [--json]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Hierarchy, startHierarchy } from '../src/demo/hierarchy.js';
import { freePort } from '../src/demo/processes.js';

const MiB = 1024 * 1024;
const POLL_MS = 50;
const TOOLS = ['rsync', 'nginx', 'curl'] as const;

/** Best-of-N results for one tool, in seconds. */
export interface ToolResult {
  tool: string;
  seconds: number[];
  best: number;
  mbPerS: number;
}

/** Runs a command to completion; rejects on a non-zero exit or after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code ?? signal}: ${err.trim()}`)),
    );
  });
}

/** First line of a tool's version output (some tools print it on stderr). */
function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
}

/** A long-running server process (rsync daemon, nginx) that is stopped at the end, also on error. */
class Daemon {
  private readonly exited: Promise<void>;
  private log = '';
  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr?.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
  }

  static start(name: string, cmd: string, args: string[]): Daemon {
    return new Daemon(name, spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  }

  /** Waits until the port accepts connections; fails if the process died or took over 10 s. */
  async ready(port: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`${this.name} exited: ${this.log.trim()}`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      await sleep(POLL_MS);
    }
    throw new Error(`${this.name} did not listen on 127.0.0.1:${port} within 10 s`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes `sizeMiB` of incompressible bytes as one large file and two small ones, synced, so no
 * tool pays for write-back of the source and Outpost's deduplication finds nothing to skip.
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
      const piece = block.subarray(0, Math.min(left, block.length));
      randomFillSync(piece);
      await handle.write(piece);
    }
    await handle.sync();
    await handle.close();
  }
  return { files, bytes: total };
}

/** Total bytes of the regular files under `dir`: every run checks it received everything. */
async function bytesUnder(dir: string): Promise<number> {
  let sum = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) sum += (await stat(join(e.parentPath, e.name))).size;
  }
  return sum;
}

/** Flushes dirty pages left by the previous run so they are not written back during the next one. */
const syncDisks = () => run('sync', [], 120_000);

/** Starts rsync in daemon mode serving `src` as module `data`; returns the URL of the module. */
async function startRsyncd(tmp: string, src: string, daemons: Daemon[]): Promise<string> {
  const port = await freePort();
  const conf = join(tmp, 'rsyncd.conf');
  // No chroot so it also works unprivileged; running as root it reads as `nobody` (src is 0755/0644).
  await writeFile(
    conf,
    `pid file = ${tmp}/rsyncd.pid\nlog file = ${tmp}/rsyncd.log\nuse chroot = no\n\n[data]\n  path = ${src}\n  read only = yes\n`,
  );
  const d = Daemon.start('rsync daemon', 'rsync', [
    '--daemon',
    '--no-detach',
    `--config=${conf}`,
    '--address=127.0.0.1',
    `--port=${port}`,
  ]);
  daemons.push(d);
  await d.ready(port);
  return `rsync://127.0.0.1:${port}/data/`;
}

/** Starts nginx in the foreground with everything (pid, logs, temp paths) inside `tmp`. */
async function startNginx(tmp: string, src: string, daemons: Daemon[]): Promise<string> {
  const port = await freePort();
  const dir = join(tmp, 'nginx');
  await mkdir(dir);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `${t}_temp_path ${dir}/${t};`)
    .join(' ');
  const conf = `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log; ${temps}
  sendfile on; tcp_nopush on; default_type application/octet-stream;
  server { listen 127.0.0.1:${port}; root ${src}; }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const d = Daemon.start('nginx', 'nginx', [
    '-p',
    dir,
    '-e',
    `${dir}/error.log`,
    '-c',
    join(dir, 'nginx.conf'),
  ]);
  daemons.push(d);
  await d.ready(port);
  return `http://127.0.0.1:${port}`;
}

/** Times one external copy into a fresh `dest`, checks the byte count, then frees the space. */
async function timeCopy(
  dest: string,
  bytes: number,
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<number> {
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

interface JobRow {
  kind: string;
  state: string;
  lastError: string | null;
  updatedAt: number;
}
interface StatusRow {
  dp: string;
  state: string;
  error: string | null;
  updatedAt: number;
}

/**
 * One Outpost run in a fresh two-site hierarchy: import the data at C01 (not timed), assign it to
 * S02's DP, and return seconds from the assign call until the C01→S02 job completed (transfer)
 * and until S02 itself recorded the package Installed (transfer + verify + materialise on its DP).
 * Times come from the `updatedAt` the servers stamp (same machine clock), so polling adds no error.
 */
export async function outpostRun(
  dir: string,
  src: string,
  bytes: number,
  timeoutMs: number,
  live: Hierarchy[],
) {
  const h = await startHierarchy(
    dir,
    [
      { code: 'C01', type: 'central' },
      { code: 'S02', type: 'secondary', parent: 'C01' },
    ],
    ['--heartbeat', '1s'],
  );
  live.push(h);
  try {
    const { C01, S02 } = h.sites;
    const pkg = await C01.admin.post<{ id: string; size: number }>('/packages', {
      name: 'bench',
      source: src,
    });
    if (pkg.size !== bytes) throw new Error(`package holds ${pkg.size} bytes, expected ${bytes}`);
    await syncDisks();
    const t0 = Date.now();
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    let transfer: number | undefined;
    for (const deadline = t0 + timeoutMs; ; await sleep(POLL_MS)) {
      if (Date.now() > deadline)
        throw new Error(`Outpost did not install ${pkg.id} at S02 within ${timeoutMs / 1000} s`);
      if (transfer === undefined) {
        const job = (await C01.admin.get<JobRow[]>('/jobs', { package: pkg.id })).find(
          (j) => j.kind === 'package',
        );
        if (job?.state === 'failed') throw new Error(`job failed: ${job.lastError}`);
        if (job?.state === 'completed') transfer = (job.updatedAt - t0) / 1000;
      }
      // S02 is the DP's own site: it records Installed first; C01 hears about it up to ~1 s later.
      const row = (await S02.admin.get<StatusRow[]>('/status/packages', { package: pkg.id })).find(
        (r) => r.dp === 'S02',
      );
      if (row?.state === 'Install Failed') throw new Error(`install failed at S02: ${row.error}`);
      if (row?.state === 'Installed' && transfer !== undefined) {
        const got = await bytesUnder(join(S02.dataDir, 'dp', pkg.id));
        if (got !== bytes) throw new Error(`S02's DP holds ${got} bytes, expected ${bytes}`);
        return { transfer, installed: (row.updatedAt - t0) / 1000 };
      }
    }
  } finally {
    await h.stop();
    live.splice(live.indexOf(h), 1);
    await rm(dir, { recursive: true, force: true });
  }
}

function best(tool: string, seconds: number[], bytes: number): ToolResult {
  const b = Math.min(...seconds);
  return { tool, seconds, best: b, mbPerS: bytes / 1e6 / b };
}

/** The whole benchmark; everything it starts lives under one temp dir and is stopped on any exit. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '1024' },
      runs: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
    },
  });
  const sizeMiB = Number(values['size-mib']);
  const runs = Number(values.runs);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 4)
    throw new Error('--size-mib must be an integer of at least 4');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const missing = TOOLS.filter((t) => spawnSync('which', [t]).status !== 0);
  if (missing.length) {
    console.error(
      `error: ${missing.join(', ')} not found; install with: apt-get install -y ${missing.join(' ')}`,
    );
    process.exit(1);
  }
  // Human output goes to stderr when --json owns stdout.
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  // Generous per-step limit (≥ 2 MB/s) and an overall watchdog, so the run always ends by itself.
  const stepMs = 60_000 + sizeMiB * 500;
  const machine = {
    nproc: availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    rsync: versionOf('rsync', ['--version']),
    nginx: versionOf('nginx', ['-v']),
    curl: versionOf('curl', ['--version']),
  };
  for (const [k, v] of Object.entries(machine)) say(`${k.padEnd(7)} ${v}`);
  say(
    `data    ${sizeMiB} MiB, incompressible; all of it stays in the page cache (${machine.memGiB} GiB RAM), so this measures CPU and protocol, not disk reads`,
  );

  const tmp = await mkdtemp(join(tmpdir(), 'outpost-bench-'));
  const daemons: Daemon[] = [];
  const live: Hierarchy[] = [];
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await Promise.allSettled([...daemons.map((d) => d.stop()), ...live.map((h) => h.stop())]);
      await rm(tmp, { recursive: true, force: true });
    })());
  const abort = (why: string) => {
    console.error(`error: ${why}; stopping`);
    void cleanup().finally(() => process.exit(2));
  };
  const watchdog = setTimeout(
    () => abort(`benchmark still running after ${(stepMs * runs * 4) / 1000} s`),
    stepMs * runs * 4,
  );
  process.once('SIGINT', () => abort('interrupted'));
  process.once('SIGTERM', () => abort('terminated'));
  try {
    // The rsync daemon and nginx workers may run as `nobody`: let them into the temp dir.
    await chmod(tmp, 0o755);
    const src = join(tmp, 'src');
    const { files, bytes } = await makeData(src, sizeMiB);
    const rsyncUrl = await startRsyncd(tmp, src, daemons);
    const httpUrl = await startNginx(tmp, src, daemons);
    const times: Record<'curl' | 'rsync' | 'transfer' | 'installed', number[]> = {
      curl: [],
      rsync: [],
      transfer: [],
      installed: [],
    };
    // Rounds interleave the tools so background load on the shared machine hits them alike.
    for (let r = 1; r <= runs; r++) {
      const dest = join(tmp, 'dest');
      const curlArgs = ['-sS', '--fail', ...files.flatMap((f) => ['-o', join(dest, f), `${httpUrl}/${f}`])];
      times.curl.push(await timeCopy(dest, bytes, 'curl', curlArgs, stepMs));
      times.rsync.push(await timeCopy(dest, bytes, 'rsync', ['-a', rsyncUrl, `${dest}/`], stepMs));
      const o = await outpostRun(join(tmp, `outpost-${r}`), src, bytes, stepMs, live);
      times.transfer.push(o.transfer);
      times.installed.push(o.installed);
      const f = (s: number) => s.toFixed(2);
      say(
        `round ${r}/${runs}: curl ${f(times.curl[r - 1])} s, rsync ${f(times.rsync[r - 1])} s, outpost transfer ${f(o.transfer)} s / installed ${f(o.installed)} s`,
      );
    }
    const results = [
      best('curl from nginx', times.curl, bytes),
      best('rsync daemon', times.rsync, bytes),
      best('Outpost, transfer only', times.transfer, bytes),
      best('Outpost, to Installed', times.installed, bytes),
    ];
    const [curl, rsync, transfer, installed] = results;
    const ratios = {
      installedVsCurl: installed.mbPerS / curl.mbPerS,
      installedVsRsync: installed.mbPerS / rsync.mbPerS,
      transferVsCurl: transfer.mbPerS / curl.mbPerS,
      transferVsRsync: transfer.mbPerS / rsync.mbPerS,
    };
    const table = [
      `| tool | best of ${runs} (s) | MB/s | all runs (s) |`,
      '| --- | ---: | ---: | --- |',
      ...results.map(
        (t) =>
          `| ${t.tool} | ${t.best.toFixed(2)} | ${t.mbPerS.toFixed(0)} | ${t.seconds.map((s) => s.toFixed(2)).join(', ')} |`,
      ),
      '',
      `Outpost/curl-from-nginx: ${ratios.installedVsCurl.toFixed(2)}x to Installed (target >= 0.8), ${ratios.transferVsCurl.toFixed(2)}x transfer only`,
      `Outpost/rsync:           ${ratios.installedVsRsync.toFixed(2)}x to Installed (target >= 1.0), ${ratios.transferVsRsync.toFixed(2)}x transfer only`,
      'MB/s = 10^6 bytes per second of wall time.',
    ];
    say('');
    for (const line of table) say(line);
    if (values.json) console.log(JSON.stringify({ sizeMiB, bytes, runs, machine, results, ratios }, null, 2));
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
