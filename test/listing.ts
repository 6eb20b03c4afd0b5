import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Every path under `dir` with its type, and each file's content: two equal listings mean nothing
 * there was removed, added or changed. What `skip` names (by path relative to `dir`) is left out,
 * with everything below it: the files a running server writes to.
 */
export function listTree(dir: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      const rel = relative(dir, path);
      if (skip(rel)) continue;
      const stats = lstatSync(path);
      if (stats.isSymbolicLink()) out.push(`${rel} -> link`);
      else if (stats.isDirectory()) {
        out.push(`${rel}/`);
        walk(path);
      } else out.push(`${rel} = ${readFileSync(path, 'utf8')}`);
    }
  };
  walk(dir);
  return out;
}
