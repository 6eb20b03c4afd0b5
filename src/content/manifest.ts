import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { OutpostError } from '../errors/index.js';
import { chunkFile } from './chunker.js';
import { assertPackagePath } from './paths.js';
import type { ContentStore } from './store.js';

/** One file of a package version: its hash, size and the chunks it is made of, in order. */
export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  chunks: [sha256: string, size: number][];
}

/** Walks a source folder, refusing anything that is not a plain file or folder with a safe name. */
async function listSourceFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw new OutpostError(
        'OUTPOST_SOURCE_UNREADABLE',
        `source folder '${dir}' cannot be read: ${(err as Error).message}`,
      );
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = join(dir, entry.name);
      const rel = relative(root, full).split(sep).join('/');
      assertPackagePath(rel);
      if (entry.isSymbolicLink()) {
        throw new OutpostError(
          'OUTPOST_BAD_PATH',
          `'${rel}' in the source is a symbolic link; packages hold plain files only`,
        );
      }
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) found.push(rel);
      else
        throw new OutpostError('OUTPOST_BAD_PATH', `'${rel}' in the source is not a regular file or folder`);
    }
  }
  await walk(root);
  return found;
}

/**
 * Reads a source folder into the content library and returns its manifest. Every name is checked
 * before any content is stored, so a bad source changes nothing.
 */
export async function importSource(root: string, store: ContentStore): Promise<ManifestFile[]> {
  const paths = await listSourceFiles(resolve(root));
  const files: ManifestFile[] = [];
  for (const path of paths) {
    const fileHash = createHash('sha256');
    const chunks: [string, number][] = [];
    let size = 0;
    try {
      for await (const chunk of chunkFile(join(root, path))) {
        const sha = createHash('sha256').update(chunk).digest('hex');
        fileHash.update(chunk);
        size += chunk.length;
        if (!(await store.has(sha))) await store.put(sha, chunk);
        chunks.push([sha, chunk.length]);
      }
    } catch (err) {
      if (err instanceof OutpostError) throw err;
      throw new OutpostError(
        'OUTPOST_SOURCE_UNREADABLE',
        `'${path}' in the source cannot be read: ${(err as Error).message}`,
      );
    }
    files.push({ path, size, sha256: fileHash.digest('hex'), chunks });
  }
  return files;
}

/** Every distinct chunk a set of files needs, with its size. */
export function chunksOf(files: readonly ManifestFile[]): Map<string, number> {
  const all = new Map<string, number>();
  for (const file of files) for (const [sha, size] of file.chunks) all.set(sha, size);
  return all;
}
