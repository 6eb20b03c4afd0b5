import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';
import { dataPaths } from './datadir.js';
import { formatListen } from './listen.js';

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
  return { pid, cmdline: args.join(' ').trim(), dataDir: realOrSelf(dir) };
}

/** The pids in /proc, this process's own left out. */
function otherPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch {
    return [];
  }
}

/** Outpost server processes on this host (this one aside) whose data directory is `dataDir` (a real path). */
export function serverProcesses(dataDir: string): ServerProcess[] {
  const found: ServerProcess[] = [];
  for (const pid of otherPids()) {
    const server = readServer(pid);
    if (server?.dataDir === dataDir) found.push({ pid, cmdline: server.cmdline });
  }
  return found;
}

/** A process running a site from a data directory, however its data directory was given to it. */
export interface SiteProcess extends ServerProcess {
  /** The data directory, symlinks resolved. */
  dataDir: string;
  /** The site code in its site.json; null when site.json could not be read (no permission). */
  code: string | null;
  /** The addresses it listens on (HOST:PORT). */
  listen: string[];
}

/** `HOST:PORT` of an address as /proc/net/tcp writes it: hex, each 32-bit word in host byte order. */
export function procNetAddress(hex: string): string | null {
  const [addr, port] = hex.split(':');
  if (!addr || !port || (addr.length !== 8 && addr.length !== 32)) return null;
  const bytes = (addr.match(/.{8}/g) ?? []).flatMap((word) => (word.match(/../g) ?? []).reverse());
  if (bytes.length === 4)
    return formatListen({ host: bytes.map((b) => parseInt(b, 16)).join('.'), port: parseInt(port, 16) });
  const groups = (bytes.join('').match(/.{4}/g) ?? []).join(':');
  // The URL parser writes an IPv6 address the short, canonical way.
  const host = new URL(`http://[${groups}]`).hostname.slice(1, -1);
  return formatListen({ host, port: parseInt(port, 16) });
}

/** Listening TCP sockets of this network namespace: socket inode → HOST:PORT. */
function listeningSockets(): Map<string, string> {
  const sockets = new Map<string, string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      // The state column: 0A is LISTEN.
      const address = fields[3] === '0A' ? procNetAddress(fields[1] ?? '') : null;
      if (address && fields[9]) sockets.set(fields[9], address);
    }
  }
  return sockets;
}

/** Where a file a site server holds open tells its data directory: its database and its logs. */
const IN_DATA_DIR = (() => {
  const paths = dataPaths('/');
  const folders = [paths.database, paths.logs].map((p) => p.split('/')[1]);
  return new RegExp(`^(/.*)/(?:${folders.join('|')})/[^/]+$`);
})();

/** The data directories a process runs from: its `--data`, and the folders its open files are in. */
function dataDirsOf(pid: number): { dirs: Set<string>; sockets: string[]; cmdline: string } | null {
  const server = readServer(pid);
  const dirs = new Set<string>(server ? [server.dataDir] : []);
  const sockets: string[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    // Another user's process: only its command line can be read.
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const socket = /^socket:\[(\d+)\]$/.exec(target);
    if (socket) sockets.push(socket[1]);
    const dir = IN_DATA_DIR.exec(target)?.[1];
    if (dir && existsSync(dataPaths(dir).config)) dirs.add(realOrSelf(dir));
  }
  if (dirs.size === 0) return null;
  let cmdline = server?.cmdline;
  if (cmdline === undefined) {
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      return null;
    }
  }
  return { dirs, sockets, cmdline };
}

/** The path with symlinks resolved; as given (made absolute) when it cannot be resolved. */
function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** The site code in a data directory's site.json; null when it cannot be read for want of permission. */
function codeIn(dataDir: string): string | null | undefined {
  try {
    const config = JSON.parse(readFileSync(dataPaths(dataDir).config, 'utf8')) as { code?: unknown };
    return typeof config.code === 'string' ? config.code : undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES' ? null : undefined;
  }
}

/**
 * Every process on this host (this one aside) running a site from a data directory, wherever that
 * folder is: found by its `--data` argument (taken relative to its own working directory) and by the
 * files of a data directory it holds open (its database and its logs), so a server given its folder
 * any other way is found too. With the addresses it listens on.
 */
export function siteProcesses(): SiteProcess[] {
  const sockets = listeningSockets();
  const found: SiteProcess[] = [];
  for (const pid of otherPids()) {
    const running = dataDirsOf(pid);
    if (!running) continue;
    const listen = running.sockets.flatMap((inode) => sockets.get(inode) ?? []);
    for (const dataDir of running.dirs) {
      const code = codeIn(dataDir);
      if (code !== undefined) found.push({ pid, cmdline: running.cmdline, dataDir, code, listen });
    }
  }
  return found;
}

/**
 * Stops a server process of `dataDir`: SIGTERM, then SIGKILL. Before each signal it checks again that
 * the pid still runs from that data directory (its `--data`, or files of it held open), so a pid
 * reused by another process is never hit.
 */
export async function stopServer(pid: number, dataDir: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1)
    throw new OutpostError('OUTPOST_INTERNAL', `refusing to stop pid ${pid}`);
  const ours = () => dataDirsOf(pid)?.dirs.has(dataDir) === true;
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
