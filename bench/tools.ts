/** Helpers the benchmarks share: running the tools they compare against. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../src/apiclient/index.js';
import {
  freePort,
  type Hierarchy,
  type HierarchySite,
  type SiteSpec,
  spawnSite,
  startHierarchy,
  TWO_LEVELS,
  waitFor,
} from '../src/demo/index.js';
import { type AddSiteResult, joinSite } from '../src/sites/index.js';
import { TestProxy } from '../test/e2e/proxy.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const POLL_MS = 50;

/** Runs a command to completion and returns what it printed; rejects on a non-zero exit or after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('error', reject);
    // 'close', not 'exit': what it printed may still be in the pipes when it exits.
    child.once('close', (code, sig) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code ?? sig}: ${err}`)),
    );
  });
}

/** First line of a tool's version output (nginx prints it on stderr). */
export function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
}

/** Flushes dirty pages of the previous run, so they are not written back during the next one. */
export const syncDisks = () => run('sync', [], 120_000);

/** The machine a benchmark ran on, as its report prints it. */
export function machineInfo() {
  return {
    nproc: availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
  };
}

/**
 * A parent–child link whose every byte is counted: the parent's address to the child points at the
 * `down` proxy, and the child joins (and so reaches) its parent at the `up` proxy. `bytes()` is what
 * crossed since the last `reset()`, both ways on both: requests, answers, headers and bodies.
 */
export interface CountedLink {
  /** Where the parent sends to (the child's address). */
  readonly childAddress: string;
  /** Where the child reaches the parent (its --parent at join). */
  readonly parentAddress: string;
  /** Where the child's server listens. */
  readonly listen: string;
  bytes(): { parentToChild: number; childToParent: number; total: number };
  reset(): void;
  close(): Promise<void>;
}

/** A counted link to `parent` for a child not yet added (see {@link CountedLink}). */
export async function countedLink(parent: HierarchySite): Promise<CountedLink> {
  const port = await freePort();
  const down = new TestProxy(port);
  const up = new TestProxy(Number(new URL(parent.url).port));
  await down.listen();
  await up.listen();
  return {
    childAddress: down.url,
    parentAddress: up.url,
    listen: `127.0.0.1:${port}`,
    bytes() {
      const parentToChild = down.bytesToTarget + up.bytesFromTarget;
      const childToParent = down.bytesFromTarget + up.bytesToTarget;
      return { parentToChild, childToParent, total: parentToChild + childToParent };
    },
    reset() {
      down.bytesToTarget = down.bytesFromTarget = up.bytesToTarget = up.bytesFromTarget = 0;
    },
    async close() {
      await Promise.all([down.close(), up.close()]);
    },
  };
}

/** Joins a child with `token` over `link` and starts its server (default heartbeat: 30 s). */
export async function joinCounted(
  link: CountedLink,
  parent: HierarchySite,
  code: string,
  dataDir: string,
  token: string,
): Promise<HierarchySite> {
  await joinSite({ dataDir, parentUrl: link.parentAddress, token, listen: link.listen });
  const url = `http://${link.listen}`;
  const process = await spawnSite(dataDir, url);
  await waitFor(`${code} active at ${parent.code}`, 60_000, async () => {
    return (await parent.admin.get<{ state: string }>(`/sites/${code}`)).state === 'active';
  });
  return { code, dataDir, url, admin: await AdminClient.from({ data: dataDir }), process };
}

/** A new secondary `code` under `parent`, behind a new counted link, joined in `dataDir` and started. */
export async function countedChild(
  parent: HierarchySite,
  code: string,
  dataDir: string,
): Promise<{ link: CountedLink; site: HierarchySite }> {
  const link = await countedLink(parent);
  try {
    const added = await parent.admin.post<AddSiteResult>('/sites', {
      code,
      type: 'secondary',
      url: link.childAddress,
    });
    return { link, site: await joinCounted(link, parent, code, dataDir, added.joinToken) };
  } catch (err) {
    await link.close();
    throw err;
  }
}

/**
 * Runs a benchmark's body with a temporary folder and a list of things to stop (servers, proxies),
 * stopped last first and the folder removed whatever happens; a failure prints one line and exits 1.
 */
export function runBenchmark(
  name: string,
  body: (tmp: string, onStop: (stop: () => Promise<void>) => void) => Promise<void>,
): void {
  const stops: (() => Promise<void>)[] = [];
  const run = async () => {
    const tmp = await mkdtemp(join(tmpdir(), `outpost-bench-${name}-`));
    try {
      await body(tmp, (stop) => stops.push(stop));
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      await rm(tmp, { recursive: true, force: true });
    }
  };
  run().catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}

/**
 * Every server this run starts (rsync daemon, nginx, Outpost sites), so that all of them are stopped
 * at the end, on error, on Ctrl-C and when the watchdog fires — even a hierarchy still starting up.
 */
export class Servers {
  private readonly daemons: { child: ChildProcess; exited: Promise<void> }[] = [];
  private readonly hierarchies = new Set<Promise<Hierarchy>>();
  private stopping = false;

  /** Spawns a server in the foreground and waits (at most 10 s) until it accepts connections on `port`. */
  async daemon(name: string, cmd: string, args: string[], port: number): Promise<number> {
    if (this.stopping) throw new Error('stopping');
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    this.daemons.push({ child, exited: new Promise((resolve) => child.once('exit', () => resolve())) });
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(POLL_MS)) {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${log.trim()}`);
      const listening = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (listening && child.pid !== undefined) return child.pid;
    }
    throw new Error(`${name} did not listen on 127.0.0.1:${port} within 10 s`);
  }

  /** Runs `fn` with a fresh C01→S02 hierarchy in `dir`, then stops it and deletes `dir`. */
  async withHierarchy<T>(
    dir: string,
    fn: (h: Hierarchy) => Promise<T>,
    specs: SiteSpec[] = TWO_LEVELS,
  ): Promise<T> {
    if (this.stopping) throw new Error('stopping');
    const starting = startHierarchy(dir, specs, ['--heartbeat', '1s']);
    this.hierarchies.add(starting);
    try {
      return await fn(await starting);
    } finally {
      await starting.then((h) => h.stop()).catch(() => undefined); // a failed start stops its own sites
      this.hierarchies.delete(starting);
      await rm(dir, { recursive: true, force: true });
    }
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    const stopDaemon = async ({ child, exited }: { child: ChildProcess; exited: Promise<void> }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    };
    const hierarchies = [...this.hierarchies].map((p) => p.then((h) => h.stop()));
    await Promise.allSettled([...this.daemons.map(stopDaemon), ...hierarchies]);
  }
}

/**
 * Starts nginx in the foreground serving `src`, everything it writes (pid, logs, temp files) inside
 * `tmp`, with `workers` worker processes (a number, or `auto`: one per core) of `connections`
 * connections each; returns its URL and the master's pid (its workers are its children).
 */
export async function startNginx(
  servers: Servers,
  tmp: string,
  src: string,
  { workers = '1', connections = 64 }: { workers?: string; connections?: number } = {},
): Promise<{ url: string; pid: number }> {
  const port = await freePort();
  const dir = join(tmp, 'nginx');
  await mkdir(dir);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
    (t) => `${t}_temp_path ${dir}/${t};`,
  );
  const conf = `daemon off; worker_processes ${workers}; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections ${connections}; }
http {
  access_log ${dir}/access.log; ${temps.join(' ')}
  sendfile on; tcp_nopush on; default_type application/octet-stream;
  server { listen 127.0.0.1:${port}; root ${src}; }
}\n`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const pid = await servers.daemon(
    'nginx',
    'nginx',
    ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`],
    port,
  );
  return { url: `http://127.0.0.1:${port}`, pid };
}

/** Exits with a one-line error unless every one of `tools` is on the PATH, naming the apt-get line. */
export function requireTools(tools: readonly string[]): void {
  const missing = tools.filter((t) => spawnSync('which', [t]).status !== 0);
  if (missing.length === 0) return;
  console.error(
    `error: ${missing.join(', ')} not found; install with: apt-get install -y ${missing.join(' ')}`,
  );
  process.exit(1);
}

/**
 * Runs a benchmark's `body` with a temp folder (readable by nginx workers) and a {@link Servers}:
 * every server is stopped and the folder removed at the end, on an error, on Ctrl-C or SIGTERM, and
 * when the run has taken `totalMs` (the watchdog), so a run always ends and leaves nothing behind.
 */
export async function guardedBenchmark(
  name: string,
  totalMs: number,
  body: (tmp: string, servers: Servers) => Promise<void>,
): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), `outpost-bench-${name}-`));
  const servers = new Servers();
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= servers.stopAll().finally(() => rm(tmp, { recursive: true, force: true })));
  const abort = (why: string) => {
    console.error(`error: ${why}; stopping`);
    void cleanup().finally(() => process.exit(2));
  };
  const watchdog = setTimeout(() => abort(`still running after ${totalMs / 1000} s`), totalMs);
  const onInt = () => abort('interrupted');
  const onTerm = () => abort('terminated');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    await chmod(tmp, 0o755); // nginx workers and an rsync daemon may read as `nobody`
    await body(tmp, servers);
  } finally {
    clearTimeout(watchdog);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await cleanup();
  }
}

/** The pids of `pid`'s children (nginx's workers, under its master). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) process `pid` and its children have used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const ticks = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim();
  const own = (p: number) => {
    try {
      // Fields after the command (which may hold spaces), counted from state: utime is the 12th.
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return (Number(fields[11]) + Number(fields[12])) / Number(ticks || 100);
    } catch {
      return 0;
    }
  };
  return [pid, ...childrenOf(pid)].reduce((sum, p) => sum + own(p), 0);
}

/** Resident memory of `pid` now and its peak (VmRSS, VmHWM of /proc/PID/status), in bytes. */
export function peakRss(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s*(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Starts a new peak for {@link peakRss} (writing 5 to clear_refs resets VmHWM to the current RSS). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Content bytes a site has received (over every link), from its /metrics. */
export async function bytesReceived(siteUrl: string): Promise<number> {
  const text = await (await fetch(`${siteUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^outpost_despooler_bytes_total(?:\{[^}]*\})? (\d+)/gm)) sum += Number(m[1]);
  return sum;
}
