import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, resolve } from 'node:path';
import { OutpostError } from '../errors/index.js';
import { auditHost, formatListen, parseListen } from '../host/index.js';
import { S2S, s2sJson } from '../s2s/index.js';
import { isJoinToken, parseJoinToken } from './codes.js';
import type { JoinCheck } from './phases.js';

/** One line of the preflight table. */
export interface PreflightCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface PreflightOptions {
  parentUrl: string;
  token: string;
  dataDir: string;
  /** HOST:PORT to listen on; default: from the URL the parent will use. */
  listen?: string;
  root?: string;
  /** Free space to keep beyond the content assigned to the site, in bytes. */
  reserveBytes?: number;
}

export interface PreflightResult {
  ok: boolean;
  checks: PreflightCheck[];
  join: JoinCheck | null;
  listen: string | null;
}

export const DEFAULT_RESERVE_BYTES = 256 * 1024 * 1024;
const MAX_SKEW_MS = 60_000;

/** The address a server reached at `url` listens on, when no other is given. */
function listenOf(url: string): string {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return formatListen({ host: u.hostname.replace(/^\[|\]$/g, ''), port });
}

/** Listens on `listen` for a moment, answering /healthz with `nonce`, while `during` runs. */
async function withProbeServer<T>(listen: string, nonce: string, during: () => Promise<T>): Promise<T> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ preflight: nonce }));
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => done());
  });
  try {
    return await during();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }
}

function formatBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(0)} MiB`;
}

/**
 * The checks `site join` runs before it changes anything, and `doctor --preflight` runs alone:
 * token, parent reachable, site code free, clock skew, listen port free, the parent able to reach
 * back to this site's URL, disk space for the content assigned, and a clean host. Each failure is
 * named with its cause.
 */
export async function runPreflight(opts: PreflightOptions): Promise<PreflightResult> {
  const checks: PreflightCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const code = isJoinToken(opts.token) ? parseJoinToken(opts.token).code : null;
  let join: JoinCheck | null = null;
  if (!code) {
    add('token valid', false, 'the join token is malformed; use the one printed by site add');
  } else {
    const started = Date.now();
    try {
      join = await s2sJson<JoinCheck>(null, opts.parentUrl, 'POST', S2S.joinCheck, {
        token: opts.token,
      });
      add('parent reachable', true, opts.parentUrl);
      add('token valid', true, `for ${join.code} (${join.type}) under ${join.parent}`);
      add('site code free', true, `${join.code} is reserved for this join`);
      const skew = join.time - (started + Date.now()) / 2;
      add(
        'clock skew',
        Math.abs(skew) <= MAX_SKEW_MS,
        `${Math.round(skew / 1000)}s against ${join.parent} (limit ${MAX_SKEW_MS / 1000}s)`,
      );
    } catch (err) {
      const e = err as OutpostError;
      if (e.code === 'OUTPOST_UNREACHABLE') add('parent reachable', false, e.message);
      else if (e.code === 'OUTPOST_SITE_ACTIVE') {
        add('parent reachable', true, opts.parentUrl);
        add('site code free', false, e.message);
      } else {
        add('parent reachable', true, opts.parentUrl);
        add('token valid', false, e.message);
      }
    }
  }
  const listen = opts.listen ?? (join ? listenOf(join.url) : null);
  if (join && listen) {
    const nonce = randomBytes(12).toString('hex');
    try {
      await withProbeServer(listen, nonce, async () => {
        add('listen port free', true, listen);
        try {
          await s2sJson(null, opts.parentUrl, 'POST', S2S.joinProbe, { token: opts.token, nonce });
          add('parent reaches this site', true, join?.url ?? '');
        } catch (err) {
          add('parent reaches this site', false, (err as Error).message);
        }
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      add(
        'listen port free',
        false,
        `${listen}: ${e.code === 'EADDRINUSE' ? 'already in use by another program' : e.message}`,
      );
    }
  }
  const reserve = opts.reserveBytes ?? DEFAULT_RESERVE_BYTES;
  let probeDir = resolve(opts.dataDir);
  while (!existsSync(probeDir) && dirname(probeDir) !== probeDir) probeDir = dirname(probeDir);
  const fs = await statfs(probeDir);
  const free = fs.bavail * fs.bsize;
  const needed = (join?.bytesAssigned ?? 0) + reserve;
  add(
    'disk space',
    free >= needed,
    `${formatBytes(free)} free at ${probeDir}; needs ${formatBytes(needed)} (${formatBytes(join?.bytesAssigned ?? 0)} assigned + ${formatBytes(reserve)} reserve)`,
  );
  if (code) {
    // Leftovers of this install only: a server of the code elsewhere is one the parent still knows
    // (it gave no token for a code in use), and hosts running several hierarchies side by side (tests,
    // demos) would refuse every join of a code used by another of them.
    const audit = await auditHost({ code, dataDir: opts.dataDir, root: opts.root, anywhere: false }).catch(
      (err: unknown) => {
        // A folder that is not a data directory of this code is no leftover, but nothing may go there.
        if (err instanceof OutpostError && err.code === 'OUTPOST_NOT_OWNED') return err;
        throw err;
      },
    );
    if (audit instanceof OutpostError) add('host clean', false, audit.message);
    else {
      // The registration we are about to make is not a leftover; every other one is.
      const leftovers = audit.leftovers.filter((l) => !(l.kind === 'registration' && join));
      add(
        'host clean',
        leftovers.length === 0,
        leftovers.length
          ? leftovers.map((l) => `${l.kind} ${l.path ?? l.name}: ${l.detail}`).join('; ')
          : `no leftovers of ${code}`,
      );
    }
  }
  return { ok: checks.every((c) => c.ok), checks, join, listen };
}

/** The failed checks in one line: the reason a join stops, as reported to the parent. */
export function preflightFailures(result: PreflightResult): string {
  return result.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name} (${c.detail})`)
    .join('; ');
}

/** The error `site join` stops with when a preflight check fails. */
export function preflightFailed(result: PreflightResult): OutpostError {
  return new OutpostError('OUTPOST_PREFLIGHT_FAILED', `preflight failed: ${preflightFailures(result)}`);
}
