import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { OutpostError } from '../errors/index.js';
import { chunkFile } from './chunker.js';
import { assertPackagePath } from './paths.js';
import type { ChunkData, ContentStore } from './store.js';

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

/** How far an import has come: files listed, files read and bytes read so far. */
export interface ImportProgress {
  files: number;
  filesDone: number;
  bytesDone: number;
}

/** Files read at once: enough to keep the disk busy with small files, few enough to bound memory. */
const READERS = 8;
/** Chunks are stored (and synced) in batches of at most this many chunks or bytes. */
const BATCH_CHUNKS = 128;
const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Collects chunks read from the source and stores them a batch at a time, so a package of many
 * small files costs one sync per batch rather than one per file. A chunk already in the library,
 * or already in a batch, is not stored again.
 */
class ChunkBatches {
  private chunks: ChunkData[] = [];
  private bytes = 0;
  private readonly queued = new Set<string>();
  private readonly storing = new Set<Promise<void>>();

  constructor(private readonly store: ContentStore) {}

  async add(sha: string, data: Buffer): Promise<void> {
    if (this.queued.has(sha)) return;
    this.queued.add(sha);
    if (await this.store.has(sha)) return;
    this.chunks.push({ sha, data });
    this.bytes += data.length;
    if (this.chunks.length >= BATCH_CHUNKS || this.bytes >= BATCH_BYTES) await this.flush();
  }

  /** Stores what is collected; resolves once every batch so far is synced. */
  async flush(): Promise<void> {
    const batch = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    if (batch.length) {
      const storing = this.store.putMany(batch).then(({ rejected }) => {
        if (rejected.length) throw new OutpostError('OUTPOST_HASH_MISMATCH', rejected[0].reason);
      });
      this.storing.add(storing);
      storing.then(
        () => this.storing.delete(storing),
        () => undefined,
      );
    }
    await Promise.all(this.storing);
  }
}

/** Reads one source file into chunks and its manifest entry. */
async function importFile(root: string, path: string, batches: ChunkBatches): Promise<ManifestFile> {
  const fileHash = createHash('sha256');
  const chunks: [string, number][] = [];
  let size = 0;
  try {
    for await (const chunk of chunkFile(join(root, path))) {
      const sha = createHash('sha256').update(chunk).digest('hex');
      fileHash.update(chunk);
      size += chunk.length;
      await batches.add(sha, chunk);
      chunks.push([sha, chunk.length]);
    }
  } catch (err) {
    if (err instanceof OutpostError) throw err;
    throw new OutpostError(
      'OUTPOST_SOURCE_UNREADABLE',
      `'${path}' in the source cannot be read: ${(err as Error).message}`,
    );
  }
  return { path, size, sha256: fileHash.digest('hex'), chunks };
}

/**
 * Reads a source folder into the content library and returns its manifest, in path order. Every
 * name is checked before any content is stored, so a bad source changes nothing; every chunk is
 * synced before this returns. A few files are read at once and open files are bounded, so a
 * source of a hundred thousand small files neither runs out of descriptors nor syncs each one.
 */
export async function importSource(
  root: string,
  store: ContentStore,
  onProgress?: (progress: ImportProgress) => void,
): Promise<ManifestFile[]> {
  const paths = await listSourceFiles(resolve(root));
  const progress: ImportProgress = { files: paths.length, filesDone: 0, bytesDone: 0 };
  onProgress?.(progress);
  const files: ManifestFile[] = new Array(paths.length);
  const batches = new ChunkBatches(store);
  let next = 0;
  let failed = false;
  const reader = async () => {
    while (!failed && next < paths.length) {
      const i = next++;
      try {
        files[i] = await importFile(root, paths[i], batches);
      } catch (err) {
        failed = true;
        throw err;
      }
      progress.filesDone++;
      progress.bytesDone += files[i].size;
      onProgress?.(progress);
    }
  };
  const readers = await Promise.allSettled(Array.from({ length: READERS }, reader));
  const stored = await batches.flush().then(
    () => null,
    (err: unknown) => err,
  );
  for (const r of readers) if (r.status === 'rejected') throw r.reason;
  if (stored) throw stored;
  return files;
}
