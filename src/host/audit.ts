import { existsSync } from 'node:fs';
import { lstat, rm, rmdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { basename, resolve } from 'node:path';
import { OutpostError } from '../errors/index.js';
import type { Registration } from '../s2s/index.js';
import { type FootprintItem, installLocations } from './footprint.js';
import { type ListenAddress, parseListen } from './listen.js';
import { proveDataDir, realOrResolved } from './ownership.js';
import { type SiteProcess, serverProcesses, siteProcesses, stopServer } from './processes.js';

/** Something an install of a site code left on this host (the `host audit --json` shape). */
export interface Leftover {
  kind: 'directory' | 'file' | 'service' | 'process' | 'port' | 'registration' | 'database';
  path?: string;
  name?: string;
  detail: string;
  /** The process id, for a process. */
  pid?: number;
  /** The data directory a process runs from. */
  dataDir?: string;
  /** The addresses a process listens on (HOST:PORT). */
  listen?: string[];
  /** Present (false) when whether it is still there could not be checked: nothing may remove it then. */
  checked?: false;
}

export interface AuditResult {
  code: string;
  /** The data directory audited, symlinks resolved. */
  dataDir: string;
  clean: boolean;
  leftovers: Leftover[];
  /** Files in the data directory that the install did not create: purge leaves them. */
  left: string[];
}

export interface AuditOptions {
  code: string;
  /** The data directory the install used; default: where an install puts it under root. */
  dataDir?: string;
  root?: string;
  /**
   * Also servers of `code` running from any other data directory under root (default true): a host
   * is not clean of a code while a server of it runs there, whatever folder it was started from.
   */
  anywhere?: boolean;
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

// The PostgreSQL driver and the protocol are loaded only by an audit that needs them: the command
// line loads this folder for every call (for the admin token), and they cost most of its start-up.
async function pgClient(url: string) {
  const { default: pg } = await import('pg');
  return new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
}

/** Whether a PostgreSQL schema an install recorded still exists (`URL#schema`). */
async function schemaLeftover(name: string): Promise<Leftover | null> {
  const at = name.lastIndexOf('#');
  const [url, schema] = [name.slice(0, at), name.slice(at + 1)];
  const client = await pgClient(url);
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

/** The schema named by `URL#schema` when it is one an install of `code` creates; null otherwise. */
function schemaOfInstall(code: string, name: string): string | null {
  const schema = name.slice(name.lastIndexOf('#') + 1);
  return new RegExp(`^outpost_${code.toLowerCase()}_[0-9a-f]{8}$`).test(schema) ? schema : null;
}

/** Drops a PostgreSQL schema `host audit` found. */
async function dropSchema(code: string, name: string): Promise<void> {
  const at = name.lastIndexOf('#');
  const schema = schemaOfInstall(code, name);
  if (!schema) throw new OutpostError('OUTPOST_INTERNAL', `refusing to drop schema ${name.slice(at + 1)}`);
  const client = await pgClient(name.slice(0, at));
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}

/**
 * What the parent says of `code`: a leftover registration while it still knows the site, none once
 * it is deleted, and `replacedBy` when it accepts another generation than this install's (the site
 * was replaced: the registration, and the code on this host, belong to the new install).
 */
async function registrationAtParent(
  parentUrl: string,
  code: string,
  generation: string | undefined,
): Promise<{ leftover: Leftover | null; replacedBy?: string }> {
  const { registrationPath } = await import('../s2s/index.js');
  try {
    const res = await fetch(new URL(registrationPath(code), parentUrl), {
      signal: AbortSignal.timeout(5000),
    });
    const body = (await res.json()) as Registration;
    if (!body.known || body.state === 'deleted') return { leftover: null };
    if (generation && body.generation && body.generation !== generation)
      return { leftover: null, replacedBy: body.generation };
    return {
      leftover: {
        kind: 'registration',
        name: parentUrl,
        detail: `parent ${body.parent} still knows site ${code} (state ${body.state}); delete it there: outpost site delete ${code}`,
      },
    };
  } catch (err) {
    return {
      leftover: {
        kind: 'registration',
        name: parentUrl,
        detail: `cannot ask the parent at ${parentUrl} whether it still knows ${code}: ${(err as Error).message}`,
        checked: false,
      },
    };
  }
}

const notCreated = (count: number) => `${count} file${count === 1 ? '' : 's'} Outpost did not create`;

/** "2 files Outpost did not create: a, b", naming at most ten of them. */
export function describeLeft(files: string[]): string {
  const more = files.length > 10 ? ` and ${files.length - 10} more` : '';
  return `${notCreated(files.length)}: ${files.slice(0, 10).join(', ')}${more}`;
}

/** What a process is and does, in one line: `… running from DIR, listening on ADDR: CMDLINE`. */
function describeProcess(what: string, p: { dataDir: string; listen: string[]; cmdline: string }): string {
  const listening = p.listen.length ? `, listening on ${p.listen.join(', ')}` : '';
  return `${what} running from ${p.dataDir}${listening}: ${p.cmdline}`;
}

/**
 * The processes that keep a host from being clean of `code`: those running from the audited data
 * directory (started with it as `--data`, or holding its files open) and, unless `anywhere` is false,
 * servers of `code` running from any other data directory under root — which purge leaves alone.
 */
async function processLeftovers(opts: AuditOptions, dataDir: string, root: string): Promise<Leftover[]> {
  const running = siteProcesses();
  const leftover = (p: Omit<SiteProcess, 'code'>, detail: string): Leftover => ({
    kind: 'process',
    name: `pid ${p.pid}`,
    pid: p.pid,
    dataDir: p.dataDir,
    listen: p.listen,
    detail,
  });
  // Its own servers by their --data first: that finds one of an install that never wrote site.json.
  const own = serverProcesses(dataDir).map((p) => ({
    ...p,
    dataDir,
    listen: running.find((r) => r.pid === p.pid && r.dataDir === dataDir)?.listen ?? [],
  }));
  for (const r of running) {
    if (r.dataDir === dataDir && !own.some((p) => p.pid === r.pid)) own.push(r);
  }
  const found = own.map((p) => leftover(p, describeProcess('site server still', p)));
  if (opts.anywhere === false) return found;
  const top = await realOrResolved(root);
  for (const r of running) {
    if (r.dataDir === dataDir || (top !== '/' && !r.dataDir.startsWith(`${top}/`))) continue;
    if (r.code === opts.code) {
      const elsewhere = `not the install at ${dataDir}: audit or purge it with --data ${r.dataDir}`;
      found.push(leftover(r, `${describeProcess(`site server of ${r.code}`, r)}; ${elsewhere}`));
    } else if (r.code === null) {
      const unknown = `cannot tell whether it is of ${opts.code}: its site.json cannot be read`;
      found.push({ ...leftover(r, `${describeProcess('site server', r)}; ${unknown}`), checked: false });
    }
  }
  return found;
}

/**
 * `host audit`: every leftover of an install of `code` on this host — what its footprint manifest
 * recorded, and what a crashed install never recorded, found where an install would have put it.
 * Refuses (OUTPOST_NOT_OWNED) a data directory it cannot prove is one of `code`.
 */
export async function auditHost(opts: AuditOptions): Promise<AuditResult> {
  const root = opts.root ?? '/';
  const places = installLocations(root, opts.code);
  const proof = await proveDataDir(opts.dataDir ?? places.dataDir, opts.code, root);
  const dataDir = proof?.real ?? (await realOrResolved(opts.dataDir ?? places.dataDir));
  const config = proof?.config ?? null;
  const footprint = proof?.footprint ?? null;
  const leftovers: Leftover[] = [];
  const recorded: FootprintItem[] = footprint?.items ?? [];
  const parentUrl = config?.parent?.url ?? recorded.find((i) => i.kind === 'registration')?.name;
  const registration = parentUrl
    ? await registrationAtParent(parentUrl, opts.code, config?.generation)
    : null;
  const replacedBy = registration?.replacedBy;

  if (proof) {
    const replaced = replacedBy ? `, replaced by generation ${replacedBy}` : '';
    const detail = config
      ? `data directory of site ${config.code} (${config.type}, generation ${config.generation}${replaced})`
      : `data directory of an install of ${opts.code} that never completed`;
    const kept = proof.foreign.length;
    leftovers.push({
      kind: 'directory',
      path: dataDir,
      detail: kept ? `${detail}; ${notCreated(kept)} stay in it` : detail,
    });
  }
  // Only the unit an install of this code writes: a footprint names nothing else outside its folder.
  const unitName = basename(places.serviceUnit);
  const services = new Set([
    places.serviceUnit,
    ...recorded
      .filter((i) => i.kind === 'service' && i.path && basename(i.path) === unitName)
      .map((i) => resolve(i.path as string)),
  ]);
  for (const unit of services) {
    if (existsSync(unit))
      leftovers.push({ kind: 'service', path: unit, detail: 'systemd unit of the site server' });
  }
  for (const item of recorded) {
    if (item.kind !== 'database' || !item.name || !schemaOfInstall(opts.code, item.name)) continue;
    const schema = await schemaLeftover(item.name);
    if (schema) leftovers.push(schema);
  }
  // A replaced install's code, address and registration now belong to its replacement, which may
  // run on this same host: only what runs from this data directory is this install's.
  const processes = await processLeftovers(replacedBy ? { ...opts, anywhere: false } : opts, dataDir, root);
  leftovers.push(...processes);
  const listen = config?.listen ?? recorded.find((i) => i.kind === 'port')?.name;
  const ownPort = listen && !replacedBy && !processes.some((p) => p.dataDir === dataDir);
  if (ownPort && (await isListening(parseListen(listen)))) {
    leftovers.push({ kind: 'port', name: listen, detail: `something still listens on ${listen}` });
  }
  if (registration?.leftover) leftovers.push(registration.leftover);
  return { code: opts.code, dataDir, clean: leftovers.length === 0, leftovers, left: proof?.foreign ?? [] };
}

export interface PurgeResult {
  removed: Leftover[];
  remaining: Leftover[];
  /** Files in the data directory that the install did not create: left where they are. */
  left: string[];
}

/**
 * Removes what an install created in its data directory, then the folder itself unless files it did
 * not create are in it. Symlinks in it are removed, never followed.
 */
async function removeDataDir(
  item: Leftover & { path: string },
  code: string,
  root: string,
): Promise<PurgeResult> {
  // Proved again now that its servers have stopped: what they wrote last is in it.
  const proof = await proveDataDir(item.path, code, root);
  if (!proof) {
    await rmdir(item.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return { removed: [item], remaining: [], left: [] };
  }
  const entries: Leftover[] = [];
  for (const path of proof.owned) {
    const found = await lstat(path);
    await rm(path, { recursive: true, force: true });
    entries.push({
      kind: found.isDirectory() ? 'directory' : 'file',
      path,
      detail: 'created by the install',
    });
  }
  if (proof.foreign.length > 0) return { removed: entries, remaining: [item], left: proof.foreign };
  await rmdir(proof.real);
  return { removed: [item], remaining: [], left: [] };
}

/**
 * `host purge`: removes what `host audit` found that can be removed from this host, after the same
 * proof that the data directory is one of `code`. Only servers of that data directory are stopped; a
 * server of the code running from another folder is left, and listed as remaining.
 */
export async function purgeHost(opts: AuditOptions): Promise<PurgeResult> {
  const root = opts.root ?? '/';
  const audit = await auditHost(opts);
  const result: PurgeResult = { removed: [], remaining: [], left: [] };
  // Processes first, so nothing writes into a folder while it is removed.
  const ordered = [...audit.leftovers].sort(
    (a, b) => Number(b.kind === 'process') - Number(a.kind === 'process'),
  );
  for (const item of ordered) {
    if (item.kind === 'process' && item.pid !== undefined) {
      // A server of another data directory is another install's: purge stops only this one's.
      if (item.dataDir !== audit.dataDir || item.checked === false) result.remaining.push(item);
      else if (await stopServer(item.pid, audit.dataDir)) result.removed.push(item);
      else result.remaining.push({ ...item, detail: `${item.detail} (would not stop)` });
    } else if (item.kind === 'database' && item.name && item.checked !== false) {
      await dropSchema(opts.code, item.name);
      result.removed.push(item);
    } else if (item.kind === 'directory' && item.path) {
      const done = await removeDataDir({ ...item, path: item.path }, opts.code, root);
      result.removed.push(...done.removed);
      result.remaining.push(...done.remaining);
      result.left = done.left;
    } else if (item.kind === 'service' && item.path) {
      await rm(item.path, { force: true });
      result.removed.push(item);
    } else {
      result.remaining.push(item);
    }
  }
  return result;
}
