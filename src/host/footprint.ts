import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../common/index.js';

/** One thing a site install created on its host. */
export interface FootprintItem {
  kind: 'directory' | 'file' | 'service' | 'port' | 'registration' | 'database';
  /** A filesystem path, for directory, file and service. */
  path?: string;
  /** A name: the listen address for port, the parent URL for registration, `URL#schema` for database. */
  name?: string;
  detail: string;
}

export interface Footprint {
  code: string;
  items: FootprintItem[];
}

/** Where an install of `code` puts things when not told otherwise, under `root` (`/` on a real host). */
export function installLocations(root: string, code: string) {
  const r = resolve(root);
  return {
    dataDir: join(r, 'var', 'lib', 'outpost', code),
    serviceUnit: join(r, 'etc', 'systemd', 'system', `outpost-${code.toLowerCase()}.service`),
  };
}

export function footprintPath(dataDir: string): string {
  return join(resolve(dataDir), 'footprint.json');
}

export async function readFootprint(dataDir: string): Promise<Footprint | null> {
  const file = footprintPath(dataDir);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Footprint;
  } catch {
    return null;
  }
}

/**
 * Adds an item to the install's footprint manifest, before the thing itself is created where that
 * is possible, so a crash leaves a record of what may exist.
 */
export async function recordFootprint(dataDir: string, code: string, item: FootprintItem): Promise<void> {
  const current = (await readFootprint(dataDir)) ?? { code, items: [] };
  const same = (a: FootprintItem) => a.kind === item.kind && a.path === item.path && a.name === item.name;
  if (!current.items.some(same)) current.items.push(item);
  await writeFileAtomic(footprintPath(dataDir), `${JSON.stringify(current, null, 2)}\n`, 0o600);
}
