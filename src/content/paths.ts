import { OutpostError } from '../errors/index.js';

const MAX_PATH = 1024;

/**
 * Checks a path inside a package: relative, forward slashes, no `.`/`..`/empty segments, no NUL or
 * backslash (which would mean something else on another OS). Returns it unchanged when good.
 */
export function assertPackagePath(path: string): string {
  const bad = (why: string) =>
    new OutpostError(
      'OUTPOST_BAD_PATH',
      `path '${path.replace(/\0/g, '\\0')}' in package is not allowed: ${why}`,
    );
  if (path.length === 0) throw bad('empty');
  if (path.length > MAX_PATH) throw bad(`longer than ${MAX_PATH} characters`);
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) throw bad('absolute');
  if (path.includes('\0')) throw bad('contains a NUL byte');
  if (path.includes('\\')) throw bad('contains a backslash');
  for (const segment of path.split('/')) {
    if (segment === '..') throw bad("contains '..'");
    if (segment === '.' || segment === '') throw bad('not normalised');
  }
  return path;
}
