import { isAbsolute, relative, resolve, sep } from 'node:path';
import { assertPackagePath } from '../content/index.js';
import { OutpostError } from '../errors/index.js';

/**
 * Where file `path` of a package goes on this client: under `root`, never outside it. The path
 * comes from policy, so it is checked as a package path and the result checked again to lie
 * inside the folder.
 */
export function fileInPackage(root: string, path: string): string {
  const target = resolve(root, assertPackagePath(path));
  const rel = relative(resolve(root), target);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel))
    throw new OutpostError('OUTPOST_BAD_PATH', `path '${path}' in package is outside its folder`);
  return target;
}

/** The folder a program runs in: `workdir` from policy (relative ones inside the package folder), else the package folder. */
export function programWorkdir(root: string, workdir: string | null): string {
  if (workdir === null || workdir === '') return resolve(root);
  return isAbsolute(workdir) ? workdir : fileInPackage(root, workdir);
}
