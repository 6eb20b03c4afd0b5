import { join } from 'node:path';
import { AdminClient } from '../apiclient/index.js';
import { OutpostError } from '../errors/index.js';
import type { AddSiteResult, SiteView } from '../sites/index.js';
import { initCentral, joinSite } from '../sites/index.js';
import { freePort, type SiteProcess, spawnSite, waitFor } from './processes.js';

export interface HierarchySite {
  code: string;
  dataDir: string;
  url: string;
  admin: AdminClient;
  process: SiteProcess;
}

export interface Hierarchy {
  sites: Record<string, HierarchySite>;
  stop(): Promise<void>;
}

export interface SiteSpec {
  code: string;
  type: 'central' | 'primary' | 'secondary';
  parent?: string;
  /** A command to start this site's server through (see spawnSite). */
  wrap?: string[];
}

/**
 * Stands up a hierarchy of real site-server processes on loopback, each with its own data
 * directory under `baseDir`: init the central site, then add and join each child at its parent.
 * When `signal` aborts meanwhile, the servers started so far are stopped and it throws.
 */
export async function startHierarchy(
  baseDir: string,
  specs: SiteSpec[],
  serveArgs: string[] = ['--heartbeat', '1s'],
  signal?: AbortSignal,
): Promise<Hierarchy> {
  const sites: Record<string, HierarchySite> = {};
  const hierarchy: Hierarchy = {
    sites,
    async stop() {
      await Promise.all(Object.values(sites).map((s) => s.process.stop()));
    },
  };
  try {
    for (const spec of specs) {
      signal?.throwIfAborted();
      const port = await freePort();
      const dataDir = join(baseDir, spec.code);
      const url = `http://127.0.0.1:${port}`;
      if (spec.type === 'central') {
        await initCentral({ dataDir, code: spec.code, listen: `127.0.0.1:${port}` });
      } else {
        const parent = sites[spec.parent ?? ''];
        if (!parent)
          throw new OutpostError(
            'OUTPOST_BAD_INPUT',
            `parent ${spec.parent} of ${spec.code} must come first`,
          );
        const added = await parent.admin.post<AddSiteResult>('/sites', {
          code: spec.code,
          type: spec.type,
          url,
        });
        await joinSite({ dataDir, parentUrl: parent.url, token: added.joinToken });
      }
      const process = await spawnSite(dataDir, url, serveArgs, spec.wrap);
      const admin = await AdminClient.from({ data: dataDir });
      sites[spec.code] = { code: spec.code, dataDir, url, admin, process };
      signal?.throwIfAborted();
      // A site is used from every site above it (the demo assigns at the central site), and its
      // record reaches a grandparent only after the parent's status has gone up: wait for each.
      for (const ancestor of ancestorsOf(spec, specs)) {
        const at = sites[ancestor];
        await waitFor(
          `${spec.code} to be active at ${ancestor}`,
          30_000,
          async () => {
            const list = await at.admin.get<SiteView[]>('/sites');
            return list.some((s) => s.code === spec.code && s.state === 'active');
          },
          200,
          signal,
        );
      }
    }
  } catch (err) {
    await hierarchy.stop();
    throw err;
  }
  return hierarchy;
}

/** The sites above `spec`, nearest first. */
function ancestorsOf(spec: SiteSpec, specs: readonly SiteSpec[]): string[] {
  const out: string[] = [];
  for (let code = spec.parent; code !== undefined; code = specs.find((s) => s.code === code)?.parent) {
    if (out.includes(code)) break;
    out.push(code);
  }
  return out;
}

/** A central site and one secondary under it: C01 → S02. */
export const TWO_LEVELS: SiteSpec[] = [
  { code: 'C01', type: 'central' },
  { code: 'S02', type: 'secondary', parent: 'C01' },
];

/** The three-level hierarchy of the demo and the end-to-end tests: C01 → P01 → S02. */
export const THREE_LEVELS: SiteSpec[] = [
  { code: 'C01', type: 'central' },
  { code: 'P01', type: 'primary', parent: 'C01' },
  { code: 'S02', type: 'secondary', parent: 'P01' },
];
