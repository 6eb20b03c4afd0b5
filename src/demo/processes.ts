import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';

/** The `outpost` executable of this checkout (built code), found from here in src/ or dist/src/. */
export const OUTPOST_BIN = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'bin', 'outpost.js');
})();

/** A free TCP port on 127.0.0.1, found by letting the OS choose one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns a value, or fails after `timeoutMs` with `what` in the message;
 * stops with `signal`'s reason as soon as it aborts.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined | null | false>,
  intervalMs = 200,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new OutpostError(
        'OUTPOST_UNREACHABLE',
        `timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`,
      );
    }
    await sleep(intervalMs, signal);
  }
}

/** A site server running as its own process. */
export interface SiteProcess {
  dataDir: string;
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
  /** SIGKILL: the crash case. */
  kill(): Promise<void>;
}

// Servers started here that have not exited. They belong to this process (the demo, a test): if it
// exits without stopping them (a test's start-up hook timed out, a worker torn down), they go too,
// rather than staying behind as orphans that load the machine.
const running = new Set<ChildProcess>();
const killRunning = () => {
  for (const child of running) child.kill('SIGKILL');
};

function track(child: ChildProcess): void {
  if (running.size === 0) process.once('exit', killRunning);
  running.add(child);
  child.once('exit', () => {
    running.delete(child);
    if (running.size === 0) process.off('exit', killRunning);
  });
}

/**
 * Starts `outpost serve` for a data directory and waits until it answers. `wrap` is a command the
 * server is started through (it must end by exec-ing its arguments, so the process is the server):
 * a test runs a site in its own mount namespace this way.
 */
export async function spawnSite(
  dataDir: string,
  url: string,
  extraArgs: string[] = [],
  wrap: string[] = [],
): Promise<SiteProcess> {
  const [command, ...args] = [
    ...wrap,
    process.execPath,
    OUTPOST_BIN,
    'serve',
    '--data',
    dataDir,
    ...extraArgs,
  ];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: SiteProcess = {
    dataDir,
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  const failedToStart = exited.then(() => {
    throw new OutpostError('OUTPOST_INTERNAL', `site server in ${dataDir} exited at start: ${out.trim()}`);
  });
  failedToStart.catch(() => undefined);
  try {
    await Promise.race([
      failedToStart,
      waitFor(`site server in ${dataDir} to answer`, 30_000, async () => (await fetch(`${url}/healthz`)).ok),
    ]);
  } catch (err) {
    // Nobody gets a handle to a server that did not answer in time, so nobody else would stop it.
    await handle.kill();
    throw err;
  }
  return handle;
}
