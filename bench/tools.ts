/** Helpers the benchmarks share: running the tools they compare against. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../src/apiclient/index.js';
import { freePort, type HierarchySite, spawnSite, waitFor } from '../src/demo/index.js';
import { type AddSiteResult, joinSite } from '../src/sites/index.js';
import { TestProxy } from '../test/e2e/proxy.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
    child.once('exit', (code, sig) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code ?? sig}: ${err}`)),
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
