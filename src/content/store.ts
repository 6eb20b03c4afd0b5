import { createHash, randomBytes } from 'node:crypto';
import { type Dirent, existsSync } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatBytes, fsyncDir } from '../common/index.js';
import { OutpostError } from '../errors/index.js';

const SHA256 = /^[0-9a-f]{64}$/;

/** Throws unless `sha` is a lower-case hex SHA-256. */
export function assertSha256(sha: string): string {
  if (!SHA256.test(sha)) throw new OutpostError('OUTPOST_BAD_INPUT', `'${sha}' is not a SHA-256 hash`);
  return sha;
}

/** One chunk offered to the store: the bytes and the hash they must have. */
export interface ChunkData {
  sha: string;
  data: Uint8Array;
}

/**
 * The content library's chunk store: single-instance by SHA-256. A chunk is only ever visible under
 * its hash once every byte has been checked against that hash and synced to disk.
 */
export interface ContentStore {
  has(sha: string): Promise<boolean>;
  /** Stores bytes that must hash to `sha`. */
  put(sha: string, data: Uint8Array): Promise<void>;
  /**
   * Stores several chunks, each written as soon as it comes (so a caller streaming them from the
   * network overlaps receiving and writing), and makes them visible together once all are synced.
   * Each is checked against its hash first; the ones that do not match are not stored and are
   * returned with the reason. A full disk stores none of them and is OUTPOST_DISK_FULL.
   */
  putMany(
    chunks: AsyncIterable<ChunkData> | Iterable<ChunkData>,
  ): Promise<{ rejected: { sha: string; reason: string }[] }>;
  /** Reads a chunk back, verifying it; a chunk that no longer matches its hash is an error. */
  get(sha: string): Promise<Buffer>;
  /**
   * Reads a chunk without verifying it, for a reader that verifies the bytes itself (the receiving
   * site checks every chunk; a DP checks every whole file).
   */
  read(sha: string): Promise<Buffer>;
  delete(sha: string): Promise<void>;
  list(): AsyncIterable<string>;
}

/** A content store in a folder of the site's data directory: `chunks/ab/abcdef…`. */
export class FileContentStore implements ContentStore {
  constructor(private readonly root: string) {}

  private pathOf(sha: string): string {
    assertSha256(sha);
    return join(this.root, sha.slice(0, 2), sha);
  }

  async has(sha: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha));
      return true;
    } catch {
      return false;
    }
  }

  async put(sha: string, data: Uint8Array): Promise<void> {
    const { rejected } = await this.putMany([{ sha, data }]);
    if (rejected.length) throw new OutpostError('OUTPOST_HASH_MISMATCH', rejected[0].reason);
  }

  async putMany(
    chunks: AsyncIterable<ChunkData> | Iterable<ChunkData>,
  ): Promise<{ rejected: { sha: string; reason: string }[] }> {
    const tmpDir = join(this.root, 'tmp');
    const rejected: { sha: string; reason: string }[] = [];
    const written: { tmp: string; target: string; handle: Promise<FileHandle> }[] = [];
    let bytes = 0;
    const writeOne = async (tmp: string, data: Uint8Array) => {
      const handle = await open(tmp, 'w');
      // A write the disk refuses must not leave its descriptor open.
      await handle.writeFile(data).catch(async (err: unknown) => {
        await handle.close().catch(() => undefined);
        throw err;
      });
      return handle;
    };
    try {
      if (!existsSync(tmpDir)) await mkdir(tmpDir, { recursive: true });
      for await (const { sha, data } of chunks) {
        const target = this.pathOf(sha);
        const actual = createHash('sha256').update(data).digest('hex');
        if (actual !== sha) {
          rejected.push({
            sha,
            reason: `chunk ${sha.slice(0, 12)} arrived with hash ${actual.slice(0, 12)}`,
          });
          continue;
        }
        const tmp = join(tmpDir, `${sha}.${randomBytes(4).toString('hex')}`);
        const handle = writeOne(tmp, data);
        handle.catch(() => undefined);
        written.push({ tmp, target, handle });
        bytes += data.byteLength;
      }
      // All syncs together at the end, so the file system can commit them as one.
      const handles = await Promise.all(written.map((w) => w.handle));
      await Promise.all(handles.map((h) => h.sync()));
      await Promise.all(handles.map((h) => h.close()));
      const dirs = new Set(written.map((w) => dirname(w.target)));
      await Promise.all([...dirs].map((d) => (existsSync(d) ? undefined : mkdir(d, { recursive: true }))));
      for (const w of written) await rename(w.tmp, w.target);
      await Promise.all([...dirs].map((d) => fsyncDir(d)));
    } catch (err) {
      const settled = await Promise.allSettled(written.map((w) => w.handle));
      await Promise.all(
        settled.map((r) => (r.status === 'fulfilled' ? r.value.close().catch(() => undefined) : undefined)),
      );
      await Promise.all(written.map((w) => rm(w.tmp, { force: true })));
      throw await this.diskFull(err, bytes);
    }
    return { rejected };
  }

  /**
   * A write refused for want of space becomes OUTPOST_DISK_FULL naming the library, what was to be
   * written and what is free (measured after the batch's own leftovers were removed); any other
   * error is returned as it is.
   */
  private async diskFull(err: unknown, bytes: number): Promise<unknown> {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
    const fs = await statfs(this.root).catch(() => null);
    const free = fs ? formatBytes(fs.bavail * fs.bsize) : 'unknown space';
    return new OutpostError(
      'OUTPOST_DISK_FULL',
      `content library ${this.root} is full: ${formatBytes(bytes)} to write, ${free} free`,
      { hint: 'free space on the file system that holds it, then try again', cause: err },
    );
  }

  /** Drops half-written chunks a crash left behind; they were never visible under their hash. */
  async clearTemporary(): Promise<void> {
    await rm(join(this.root, 'tmp'), { recursive: true, force: true });
  }

  async read(sha: string): Promise<Buffer> {
    return readFile(this.pathOf(sha)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        throw new OutpostError(
          'OUTPOST_CONTENT_MISSING',
          `chunk ${sha.slice(0, 12)} is not in the content library`,
        );
      }
      throw err;
    });
  }

  async get(sha: string): Promise<Buffer> {
    const data = await this.read(sha);
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha) {
      throw new OutpostError(
        'OUTPOST_HASH_MISMATCH',
        `chunk ${sha.slice(0, 12)} in the content library is corrupt`,
      );
    }
    return data;
  }

  async delete(sha: string): Promise<void> {
    const path = this.pathOf(sha);
    // Through a shard folder that is a symlink, the removal would reach outside the library.
    const shard = await lstat(dirname(path)).catch(() => null);
    if (!shard) return;
    if (!shard.isDirectory())
      throw new OutpostError('OUTPOST_INTERNAL', `refusing to delete through ${dirname(path)}: not a folder`);
    await rm(path, { force: true });
  }

  /** The chunks stored, by hash; a shard folder that is a symlink is not part of the library. */
  async *list(): AsyncIterable<string> {
    let shards: Dirent[];
    try {
      shards = await readdir(this.root, { withFileTypes: true });
    } catch {
      return;
    }
    const names = shards.filter((d) => d.isDirectory() && /^[0-9a-f]{2}$/.test(d.name)).map((d) => d.name);
    for (const prefix of names.sort()) {
      for (const name of (await readdir(join(this.root, prefix))).sort()) {
        if (SHA256.test(name)) yield name;
      }
    }
  }
}
