import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';

/** One `outpost serve` process found in /proc. */
export interface ServerProcess {
  pid: number;
  cmdline: string;
}

/**
 * An `outpost serve` process and its data directory (its `--data`, taken relative to the process's
 * own working directory, symlinks resolved); null for any other process or one that cannot be read.
 */
function readServer(pid: number): (ServerProcess & { dataDir: string }) | null {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
  if (!args.includes('serve')) return null;
  const at = args.findIndex((a) => a === '--data' || a.startsWith('--data='));
  if (at < 0) return null;
  const value = args[at] === '--data' ? args[at + 1] : args[at].slice('--data='.length);
  if (!value) return null;
  let dir = value;
  if (!isAbsolute(value)) {
    try {
      dir = resolve(readlinkSync(`/proc/${pid}/cwd`), value);
    } catch {
      return null;
    }
  }
  let dataDir: string;
  try {
    dataDir = realpathSync(dir);
  } catch {
    dataDir = resolve(dir);
  }
  return { pid, cmdline: args.join(' ').trim(), dataDir };
}

/** Outpost server processes on this host (this one aside) whose data directory is `dataDir` (a real path). */
export function serverProcesses(dataDir: string): ServerProcess[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map(Number);
  } catch {
    return [];
  }
  const found: ServerProcess[] = [];
  for (const pid of pids) {
    const server = pid === process.pid ? null : readServer(pid);
    if (server?.dataDir === dataDir) found.push({ pid, cmdline: server.cmdline });
  }
  return found;
}

/**
 * Stops a server process of `dataDir`: SIGTERM, then SIGKILL. Before each signal it checks again that
 * the pid is still a server of that data directory, so a pid reused by another process is never hit.
 */
export async function stopServer(pid: number, dataDir: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1)
    throw new OutpostError('OUTPOST_INTERNAL', `refusing to stop pid ${pid}`);
  const ours = () => readServer(pid)?.dataDir === dataDir;
  for (const [signal, wait] of [
    ['SIGTERM', 5000],
    ['SIGKILL', 2000],
  ] as const) {
    if (!ours()) return true;
    process.kill(pid, signal);
    for (let waited = 0; waited < wait && ours(); waited += 100) await sleep(100);
  }
  return !ours();
}
