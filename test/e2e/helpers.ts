import { execFile } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AdminClient } from '../../src/apiclient/index.js';
import { FileContentStore } from '../../src/content/index.js';
import {
  freePort,
  type HierarchySite,
  OUTPOST_BIN,
  spawnSite,
  startHierarchy,
  waitFor,
} from '../../src/demo/index.js';
import { loadSiteKeys, NDJSON, sha256Hex, signRequest } from '../../src/s2s/index.js';
import type { AddSiteResult } from '../../src/sites/index.js';
import { joinSite } from '../../src/sites/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import { TestProxy } from './proxy.js';

export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export { tempDir } from '../tempdirs.js';

/** A site's signing identity, read from its data directory, to send requests as that site would. */
export function identityOf(dataDir: string): { site: string; generation: string; privateKeyPem: string } {
  const config = JSON.parse(readFileSync(join(dataDir, 'site.json'), 'utf8')) as {
    code: string;
    generation: string;
  };
  return {
    site: config.code,
    generation: config.generation,
    privateKeyPem: readFileSync(join(dataDir, 'keys', 'site.key'), 'utf8'),
  };
}

type Signer = { site: string; generation: string; privateKeyPem: string };

/** Posts `signed` of `type` to a site, signed as `from` would sign it; `sent`, when given, travels instead. */
function signedBody(url: string, path: string, type: string, signed: string, from: Signer, sent = signed) {
  const headers = signRequest(
    loadSiteKeys(from.privateKeyPem),
    from,
    { method: 'POST', path, bodySha: sha256Hex(signed) },
    Date.now(),
  );
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': type },
    body: sent,
  });
}

/** Sends a request to a site as `from` would, signed with `privateKeyPem`. */
export async function signedPost(url: string, path: string, body: unknown, from: Signer) {
  return signedBody(url, path, 'application/json', JSON.stringify(body), from);
}

/**
 * Posts NDJSON (`lines`, one value each) to a site, signed as `from` would sign it; `sent`, when
 * given, is what travels instead: a body that is not the one signed.
 */
export async function signedNdjson(url: string, path: string, lines: unknown[], from: Signer, sent?: string) {
  return signedBody(url, path, NDJSON, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), from, sent);
}

/** Runs the real `outpost` CLI and returns its exit code and output. */
export function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [OUTPOST_BIN, ...args],
      { env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Waits until `site` reports `pkg` in `state` at `dp`. */
export function waitForPackageState(
  site: { admin: AdminClient },
  pkg: string,
  dp: string,
  state: string,
  timeoutMs = 60_000,
  version?: number,
): Promise<PackageStatus> {
  return waitFor(`${pkg} ${state} at ${dp}`, timeoutMs, async () => {
    const rows = await site.admin.get<PackageStatus[]>('/status/packages', { package: pkg });
    return rows.find(
      (r) => r.dp === dp && r.state === state && (version === undefined || r.sourceVersion === version),
    );
  });
}

/** A counter from a site's /metrics, summed over the series that carry every one of `labels`. */
export async function metric(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    const series = line.slice(0, line.lastIndexOf(' '));
    if (wanted.every((w) => series.includes(w))) total += Number(line.split(' ').pop());
  }
  return total;
}

export interface ProxiedPair {
  central: HierarchySite;
  child: HierarchySite;
  proxy: TestProxy;
  childListen: string;
  stop(): Promise<void>;
}

/**
 * C01 and a secondary S02 under it, with C01's address to S02 going through a TestProxy, so the
 * test can count and damage the bytes on the wire.
 */
export async function proxiedPair(baseDir: string): Promise<ProxiedPair> {
  const hierarchy = await startHierarchy(baseDir, [{ code: 'C01', type: 'central' }]);
  const central = hierarchy.sites.C01;
  const childPort = await freePort();
  const proxy = new TestProxy(childPort);
  const proxyPort = await proxy.listen();
  const added = await central.admin.post<AddSiteResult>('/sites', {
    code: 'S02',
    type: 'secondary',
    url: `http://127.0.0.1:${proxyPort}`,
  });
  const dataDir = join(baseDir, 'S02');
  const childListen = `127.0.0.1:${childPort}`;
  await joinSite({ dataDir, parentUrl: central.url, token: added.joinToken, listen: childListen });
  const childUrl = `http://${childListen}`;
  const process = await spawnSite(dataDir, childUrl, ['--heartbeat', '1s']);
  const child: HierarchySite = {
    code: 'S02',
    dataDir,
    url: childUrl,
    admin: await AdminClient.from({ data: dataDir, server: childUrl }),
    process,
  };
  await waitFor('S02 active at C01', 30_000, async () => {
    const s = await central.admin.get<{ state: string }>('/sites/S02');
    return s.state === 'active';
  });
  return {
    central,
    child,
    proxy,
    childListen,
    async stop() {
      await child.process.stop();
      await hierarchy.stop();
      await proxy.close();
    },
  };
}

/** Reads back every chunk in a site's content library, loose or packed: true when each matches its hash. */
export async function libraryIsSound(dataDir: string): Promise<boolean> {
  const store = new FileContentStore(join(dataDir, 'content', 'chunks'));
  for await (const sha of store.list()) {
    if (
      !(await store.get(sha).then(
        () => true,
        () => false,
      ))
    )
      return false;
  }
  return true;
}

/** A package version's distinct chunks: hash → size. */
export type Chunks = Map<string, number>;

/**
 * The distinct chunks of a package version, from its manifest in a site's database (read beside
 * the running server, as WAL allows). A site keeps only the versions it still needs: read a
 * version's chunks before an update replaces it.
 */
export function manifestChunks(dataDir: string, id: string, version: number): Chunks {
  const db = new Database(join(dataDir, 'db', 'site.db'), { readonly: true });
  db.pragma('busy_timeout = 5000');
  try {
    const rows = db
      .prepare('select chunks from package_files where package_id = ? and source_version = ?')
      .all(id, version) as { chunks: string }[];
    const out: Chunks = new Map();
    for (const r of rows)
      for (const [sha, size] of JSON.parse(r.chunks) as [string, number][]) out.set(sha, size);
    if (out.size === 0) throw new Error(`no manifest of ${id} v${version} in ${dataDir}`);
    return out;
  } finally {
    db.close();
  }
}

/** `size` bytes that look random but are the same on every run for the same `seed` (AES-256-CTR of zeros). */
export function seededBytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}
