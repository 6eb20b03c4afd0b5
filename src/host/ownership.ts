import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { isAtomicTemporary } from '../common/index.js';
import { OutpostError } from '../errors/index.js';
import { dataPaths, readSiteConfig, type SiteConfig } from './datadir.js';
import { type Footprint, footprintPath, readFootprint } from './footprint.js';

/** A folder proved to be a data directory of one site code, and what in it that install created. */
export interface DataDirProof {
  /** The folder with every symlink resolved: what is removed. */
  real: string;
  config: SiteConfig | null;
  footprint: Footprint | null;
  /** Entries directly in the folder that the install created. */
  owned: string[];
  /** Entries directly in the folder that the install did not create: never removed. */
  foreign: string[];
}

/** The names directly in a data directory that an install and its server create. */
const LAYOUT = (() => {
  const paths = dataPaths('/');
  const inside = [...Object.values(paths), footprintPath('/')].filter((p) => p !== paths.root);
  return new Set(inside.map((p) => p.split('/')[1]));
})();

/** The path with symlinks resolved; as given (made absolute) when it does not exist. */
export async function realOrResolved(path: string): Promise<string> {
  return realpath(path).catch(() => resolve(path));
}

/** Why a folder may never be taken for a data directory, whatever it holds; null when it may. */
function forbiddenReason(path: string, roots: string[]): string | null {
  if (path === '/') return 'it is the filesystem root';
  if (dirname(path) === '/') return 'it is a top-level folder of the host';
  for (const root of roots) {
    if (path === root) return 'it is the root given by --root';
    if (root.startsWith(`${path}/`)) return 'it holds the root given by --root';
  }
  const home = homedir();
  if (path === home || home.startsWith(`${path}/`)) return 'it is or holds a home folder';
  return null;
}

/**
 * Proves that `dataDir` is a data directory of site `code` before anything in it may be named for
 * removal: its site.json names the code, or (an install that crashed before writing site.json) its
 * footprint manifest names the code and lists this folder as the install's data directory. Null
 * when there is nothing to remove (no folder, or an empty one). Refuses with OUTPOST_NOT_OWNED
 * otherwise, and always for the filesystem root, a top-level folder, a home folder and the root
 * given by --root, after resolving symlinks as well as before.
 */
export async function proveDataDir(
  dataDir: string,
  code: string,
  root: string,
): Promise<DataDirProof | null> {
  const given = resolve(dataDir);
  const refuse = (why: string) =>
    new OutpostError('OUTPOST_NOT_OWNED', `'${given}' is not a data directory of ${code}: ${why}`, {
      hint: 'host audit and purge act only on a folder whose site.json names the site code',
    });
  const real = await realOrResolved(given);
  const roots = [...new Set([resolve(root), await realOrResolved(root)])];
  const forbidden = forbiddenReason(given, roots) ?? forbiddenReason(real, roots);
  if (forbidden) throw refuse(forbidden);

  const folder = await stat(real).catch(() => null);
  if (!folder) return null;
  if (!folder.isDirectory()) throw refuse('it is not a folder');
  const names = (await readdir(real)).sort();
  if (names.length === 0) return null;

  const paths = dataPaths(real);
  for (const file of [paths.config, footprintPath(real)]) {
    const found = await lstat(file).catch(() => null);
    if (found && !found.isFile()) throw refuse(`its ${file.slice(real.length + 1)} is not a regular file`);
  }
  const hasConfig = names.includes('site.json');
  const config = hasConfig ? await readSiteConfig(real).catch(() => null) : null;
  if (hasConfig && typeof config?.code !== 'string') throw refuse('its site.json cannot be read');
  const footprint = await readFootprint(real);
  if (config && config.code !== code) throw refuse(`its site.json is of site ${config.code}`);
  if (footprint && footprint.code !== code) throw refuse(`its footprint.json is of site ${footprint.code}`);
  if (!config) {
    if (!footprint) throw refuse('it has no site.json');
    const listsThisFolder = footprint.items.some(
      (i) => i.kind === 'directory' && i.path !== undefined && [given, real].includes(resolve(i.path)),
    );
    if (!listsThisFolder) throw refuse('it has no site.json, and its footprint.json is of another folder');
  }

  const recorded = new Set<string>();
  for (const item of footprint?.items ?? []) {
    if (!item.path) continue;
    const path = resolve(item.path);
    for (const base of [given, real]) {
      if (path.startsWith(`${base}/`)) recorded.add(path.slice(base.length + 1).split('/')[0]);
    }
  }
  const owned: string[] = [];
  const foreign: string[] = [];
  for (const name of names) {
    const ours = LAYOUT.has(name) || recorded.has(name) || isAtomicTemporary(name);
    (ours ? owned : foreign).push(join(real, name));
  }
  return { real, config, footprint, owned, foreign };
}
