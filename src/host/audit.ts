import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';
import { type Registration, registrationPath } from '../s2s/index.js';
import { readSiteConfig } from './datadir.js';
import { type FootprintItem, installLocations, readFootprint } from './footprint.js';
import { type ListenAddress, parseListen } from './listen.js';

/** Something an install of a site code left on this host (the `host audit --json` shape). */
export interface Leftover {
  kind: 'directory' | 'file' | 'service' | 'process' | 'port' | 'registration' | 'database';
  path?: string;
  name?: string;
  detail: string;
  /** The process id, for a process. */
  pid?: number;
  /** Present (false) when whether it is still there could not be checked: nothing may remove it then. */
  checked?: false;
}

export interface AuditResult {
  code: string;
  clean: boolean;
  leftovers: Leftover[];
}

export interface AuditOptions {
  code: string;
  /** The data directory the install used; default: where an install puts it under root. */
  dataDir?: string;
  root?: string;
}

function isListening({ host, port }: ListenAddress): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
  });
}

/** Outpost server processes on this host that run from `dataDir`, found in /proc. */
function serverProcesses(dataDir: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return found;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const data = args.indexOf('--data');
    if (args.includes('serve') && data >= 0 && args[data + 1] && resolve(args[data + 1]) === dataDir) {
      found.push({ pid: Number(pid), cmdline: args.join(' ').trim() });
    }
  }
  return found;
}

/** Whether a PostgreSQL schema an install recorded still exists (`URL#schema`). */
async function schemaLeftover(name: string): Promise<Leftover | null> {
  const at = name.lastIndexOf('#');
  const [url, schema] = [name.slice(0, at), name.slice(at + 1)];
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const found = await client.query('select 1 from information_schema.schemata where schema_name = $1', [
      schema,
    ]);
    return found.rowCount
      ? { kind: 'database', name, detail: `PostgreSQL schema ${schema} of the site's database` }
      : null;
  } catch (err) {
    return {
      kind: 'database',
      name,
      detail: `cannot check PostgreSQL schema ${schema}: ${(err as Error).message}`,
      checked: false,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops a PostgreSQL schema `host audit` found. */
async function dropSchema(name: string): Promise<void> {
  const at = name.lastIndexOf('#');
  const schema = name.slice(at + 1);
  if (!/^outpost_[a-z0-9]{3}_[0-9a-f]{8}$/.test(schema))
    throw new OutpostError('OUTPOST_INTERNAL', `refusing to drop schema ${schema}`);
  const client = new pg.Client({ connectionString: name.slice(0, at), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}

async function registrationAtParent(parentUrl: string, code: string): Promise<Leftover | null> {
  try {
    const res = await fetch(new URL(registrationPath(code), parentUrl), {
      signal: AbortSignal.timeout(5000),
    });
    const body = (await res.json()) as Registration;
    if (!body.known || body.state === 'deleted') return null;
    return {
      kind: 'registration',
      name: parentUrl,
      detail: `parent ${body.parent} still knows site ${code} (state ${body.state}); delete it there: outpost site delete ${code}`,
    };
  } catch (err) {
    return {
      kind: 'registration',
      name: parentUrl,
      detail: `cannot ask the parent at ${parentUrl} whether it still knows ${code}: ${(err as Error).message}`,
      checked: false,
    };
  }
}

/**
 * `host audit`: every leftover of an install of `code` on this host — what its footprint manifest
 * recorded, and what a crashed install never recorded, found where an install would have put it.
 */
export async function auditHost(opts: AuditOptions): Promise<AuditResult> {
  const root = opts.root ?? '/';
  const places = installLocations(root, opts.code);
  const dataDir = resolve(opts.dataDir ?? places.dataDir);
  const leftovers: Leftover[] = [];
  const footprint = await readFootprint(dataDir);
  const config = existsSync(join(dataDir, 'site.json'))
    ? await readSiteConfig(dataDir).catch(() => null)
    : null;

  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
    const detail = config
      ? `data directory of site ${config.code} (${config.type}, generation ${config.generation})`
      : footprint
        ? `data directory of an install of ${footprint.code} that never completed`
        : 'data directory with no site in it (a crashed install?)';
    leftovers.push({ kind: 'directory', path: dataDir, detail });
  }
  const recorded: FootprintItem[] = footprint?.items ?? [];
  const services = new Set([
    places.serviceUnit,
    ...recorded.filter((i) => i.kind === 'service' && i.path).map((i) => i.path as string),
  ]);
  for (const unit of services) {
    if (existsSync(unit))
      leftovers.push({ kind: 'service', path: unit, detail: 'systemd unit of the site server' });
  }
  for (const item of recorded) {
    if (item.kind === 'file' && item.path && !item.path.startsWith(`${dataDir}/`) && existsSync(item.path)) {
      leftovers.push({ kind: 'file', path: item.path, detail: item.detail });
    }
  }
  for (const item of recorded) {
    if (item.kind !== 'database' || !item.name) continue;
    const schema = await schemaLeftover(item.name);
    if (schema) leftovers.push(schema);
  }
  const processes = serverProcesses(dataDir);
  for (const p of processes)
    leftovers.push({
      kind: 'process',
      name: `pid ${p.pid}`,
      pid: p.pid,
      detail: `site server still running: ${p.cmdline}`,
    });
  const listen = config?.listen ?? recorded.find((i) => i.kind === 'port')?.name;
  if (listen && processes.length === 0 && (await isListening(parseListen(listen)))) {
    leftovers.push({ kind: 'port', name: listen, detail: `something still listens on ${listen}` });
  }
  const parentUrl = config?.parent?.url ?? recorded.find((i) => i.kind === 'registration')?.name;
  if (parentUrl) {
    const registration = await registrationAtParent(parentUrl, opts.code);
    if (registration) leftovers.push(registration);
  }
  return { code: opts.code, clean: leftovers.length === 0, leftovers };
}

export interface PurgeResult {
  removed: Leftover[];
  remaining: Leftover[];
}

/** `host purge`: removes what `host audit` found that can be removed from this host. */
export async function purgeHost(opts: AuditOptions): Promise<PurgeResult> {
  const audit = await auditHost(opts);
  const removed: Leftover[] = [];
  const remaining: Leftover[] = [];
  // Processes first, so nothing writes into a folder while it is removed.
  const ordered = [...audit.leftovers].sort(
    (a, b) => Number(b.kind === 'process') - Number(a.kind === 'process'),
  );
  for (const item of ordered) {
    if (item.kind === 'process' && item.pid !== undefined) {
      if (await stopProcess(item.pid)) removed.push(item);
      else remaining.push({ ...item, detail: `${item.detail} (would not stop)` });
    } else if (item.kind === 'database' && item.name && item.checked !== false) {
      await dropSchema(item.name);
      removed.push(item);
    } else if ((item.kind === 'directory' || item.kind === 'service' || item.kind === 'file') && item.path) {
      await rm(item.path, { recursive: true, force: true });
      removed.push(item);
    } else {
      remaining.push(item);
    }
  }
  return { removed, remaining };
}

async function stopProcess(pid: number): Promise<boolean> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 1)
    throw new OutpostError('OUTPOST_INTERNAL', `refusing to stop pid ${pid}`);
  for (const [signal, wait] of [
    ['SIGTERM', 5000],
    ['SIGKILL', 2000],
  ] as const) {
    if (!alive()) return true;
    process.kill(pid, signal);
    for (let waited = 0; waited < wait && alive(); waited += 100) await sleep(100);
  }
  return !alive();
}
