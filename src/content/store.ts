import { createHash, randomBytes } from 'node:crypto';
import { type Dirent, existsSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatBytes, fsyncPath, type Limiter, limitConcurrency } from '../common/index.js';
import { OutpostError } from '../errors/index.js';
import { PackIndex, type Prepared } from './packs.js';
import { type ChunkReader, rangeReader } from './reader.js';

const SHA256 = /^[0-9a-f]{64}$/;
/** The most chunk files one store has open at once. */
const OPEN_FILES = 64;
/** Chunks up to this size go into pack files, when a batch holds at least PACK_MIN of them. */
const PACKED_SIZE = 64 * 1024;
const PACK_MIN = 8;

/** Throws unless `sha` is a lower-case hex SHA-256. */
export function assertSha256(sha: string): string {
  if (!SHA256.test(sha)) throw new OutpostError('OUTPOST_BAD_INPUT', `'${sha}' is not a SHA-256 hash`);
  return sha;
}

const missing = (sha: string) =>
  new OutpostError('OUTPOST_CONTENT_MISSING', `chunk ${sha.slice(0, 12)} is not in the content library`);

/** A reader of a whole file (a loose chunk). */
async function openWhole(path: string): Promise<ChunkReader> {
  const handle = await open(path, 'r');
  try {
    return rangeReader(handle, 0, (await handle.stat()).size);
  } catch (err) {
    await handle.close();
    throw err;
  }
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
   * returned with the reason. A full disk stores none of them and is OUTPOST_DISK_FULL. `verified`
   * says the caller has just hashed every chunk itself (preload's worker threads), so the bytes are
   * not hashed a second time on this thread.
   */
  putMany(
    chunks: AsyncIterable<ChunkData> | Iterable<ChunkData>,
    options?: { verified?: boolean },
  ): Promise<{ rejected: { sha: string; reason: string }[] }>;
  /** Reads a chunk back, verifying it; a chunk that no longer matches its hash is an error. */
  get(sha: string): Promise<Buffer>;
  /**
   * Reads a chunk without verifying it, for a reader that verifies the bytes itself (the receiving
   * site checks every chunk; a DP checks every whole file).
   */
  read(sha: string): Promise<Buffer>;
  /**
   * Opens a chunk to read it block by block without holding it whole, for a reader that verifies the
   * bytes otherwise (a DP serves files whose whole-file hashes were checked at install). The caller
   * closes it; a chunk deleted meanwhile stays readable until then.
   */
  openChunk(sha: string): Promise<ChunkReader>;
  /** Deletes chunks; one not held is passed over. */
  delete(shas: readonly string[]): Promise<void>;
  list(): AsyncIterable<string>;
}

/** A chunk written to a temporary file, to be synced and renamed to its place. */
interface Written {
  tmp: string;
  target: string;
  done: Promise<void>;
}

/** One putMany's chunks, written and waiting to be made durable and visible. */
interface Batch {
  written: Written[];
  pack: Prepared | null;
}

/**
 * Group commit: the batches written while a round of syncs runs wait for the next round, which
 * syncs all their files together, renames them, and syncs each folder they went into once for
 * all of them. With several transfer blocks arriving at once (a job's window), the file system
 * commits its journal for a group of blocks rather than for each. A batch is settled only once
 * its own round is over: nothing becomes visible, or is acknowledged, before it is durable.
 */
class GroupCommit {
  private queue: { batch: Batch; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  constructor(private readonly files: Limiter) {}

  commit(batch: Batch): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.running) void this.rounds();
    });
  }

  private async rounds(): Promise<void> {
    this.running = true;
    while (this.queue.length) {
      const round = this.queue.splice(0);
      // All syncs after all writes, so the file system can commit them together. fsync through a
      // new descriptor flushes the file's data all the same, and no descriptor stays open between.
      const synced = await Promise.all(
        round.map(({ batch }) =>
          Promise.all(batch.written.map((w) => this.files(() => fsyncPath(w.tmp)))).then(
            () => null,
            (err: unknown) => ({ err }),
          ),
        ),
      );
      const ready = round.filter((entry, i) => {
        const failed = synced[i];
        if (failed) entry.reject(failed.err);
        return !failed;
      });
      try {
        const written = ready.flatMap(({ batch }) => batch.written);
        const dirs = new Set(written.map((w) => dirname(w.target)));
        await Promise.all([...dirs].map((d) => (existsSync(d) ? undefined : mkdir(d, { recursive: true }))));
        for (const w of written) await rename(w.tmp, w.target);
        await Promise.all([...dirs].map((d) => this.files(() => fsyncPath(d))));
      } catch (err) {
        for (const entry of ready) entry.reject(err);
        continue;
      }
      for (const entry of ready) {
        try {
          await entry.batch.pack?.commit();
          entry.resolve();
        } catch (err) {
          entry.reject(err);
        }
      }
    }
    this.running = false;
  }
}

/**
 * A content store in a folder of the site's data directory: a chunk on its own in
 * `chunks/ab/abcdef…`, or small ones together in `chunks/packs/` (see packs.ts).
 */
export class FileContentStore implements ContentStore {
  /**
   * Every file this store opens and closes within one call goes through here, so a burst of small
   * chunks cannot hit EMFILE. A chunk opened by openChunk is held by its reader (one per DP
   * response being streamed) and does not take a slot: it would hold it for as long as a download.
   */
  private readonly files = limitConcurrency(OPEN_FILES);
  private readonly packs: PackIndex;
  private readonly commits: GroupCommit;

  constructor(private readonly root: string) {
    this.packs = new PackIndex(join(root, 'packs'), this.files);
    this.commits = new GroupCommit(this.files);
  }

  private pathOf(sha: string): string {
    assertSha256(sha);
    return join(this.root, sha.slice(0, 2), sha);
  }

  async has(sha: string): Promise<boolean> {
    const path = this.pathOf(sha);
    if (this.packs.has(sha)) return true;
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    )
      return true;
    await this.packs.refresh();
    return this.packs.has(sha);
  }

  async put(sha: string, data: Uint8Array): Promise<void> {
    const { rejected } = await this.putMany([{ sha, data }]);
    if (rejected.length) throw new OutpostError('OUTPOST_HASH_MISMATCH', rejected[0].reason);
  }

  async putMany(
    chunks: AsyncIterable<ChunkData> | Iterable<ChunkData>,
    options: { verified?: boolean } = {},
  ): Promise<{ rejected: { sha: string; reason: string }[] }> {
    const tmpDir = join(this.root, 'tmp');
    const rejected: { sha: string; reason: string }[] = [];
    const written: Written[] = [];
    const small: ChunkData[] = [];
    let bytes = 0;
    let pack: Prepared | null = null;
    const writeLoose = (sha: string, data: Uint8Array) => {
      const tmp = join(tmpDir, `${sha}.${randomBytes(4).toString('hex')}`);
      const done = this.files(() => writeFile(tmp, data));
      done.catch(() => undefined);
      written.push({ tmp, target: this.pathOf(sha), done });
    };
    try {
      if (!existsSync(tmpDir)) await mkdir(tmpDir, { recursive: true });
      for await (const { sha, data } of chunks) {
        assertSha256(sha);
        const actual = options.verified ? sha : createHash('sha256').update(data).digest('hex');
        if (actual !== sha) {
          rejected.push({
            sha,
            reason: `chunk ${sha.slice(0, 12)} arrived with hash ${actual.slice(0, 12)}`,
          });
          continue;
        }
        bytes += data.byteLength;
        if (data.byteLength <= PACKED_SIZE) {
          small.push({ sha, data });
          continue;
        }
        writeLoose(sha, data);
      }
      if (small.length >= PACK_MIN) pack = await this.packs.write(tmpDir, small);
      else for (const { sha, data } of small) writeLoose(sha, data);
      await Promise.all(written.map((w) => w.done));
      await this.commits.commit({ written, pack });
    } catch (err) {
      await Promise.allSettled(written.map((w) => w.done));
      await Promise.all(
        [...written.map((w) => w.tmp), ...(pack?.leftovers ?? [])].map((p) => rm(p, { force: true })),
      );
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
    await this.packs.clearLeftovers();
  }

  /**
   * A chunk through `packed` if a pack holds it, else through `loose` from its own file, else through
   * `packed` again after looking for packs another process of this site wrote since this one looked.
   */
  private async find<T>(
    sha: string,
    packed: (sha: string) => Promise<T | null>,
    loose: (path: string) => Promise<T>,
  ): Promise<T> {
    const path = this.pathOf(sha);
    const inPack = await packed(sha);
    if (inPack) return inPack;
    try {
      return await loose(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await this.packs.refresh();
    const late = await packed(sha);
    if (late) return late;
    throw missing(sha);
  }

  read(sha: string): Promise<Buffer> {
    return this.find(
      sha,
      (s) => this.packs.read(s),
      (path) => this.files(() => readFile(path)),
    );
  }

  openChunk(sha: string): Promise<ChunkReader> {
    return this.find(sha, (s) => this.packs.open(s), openWhole);
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

  async delete(shas: readonly string[]): Promise<void> {
    for (const sha of shas) {
      const path = this.pathOf(sha);
      // Through a shard folder that is a symlink, the removal would reach outside the library.
      const shard = await lstat(dirname(path)).catch(() => null);
      if (!shard) continue;
      if (!shard.isDirectory())
        throw new OutpostError(
          'OUTPOST_INTERNAL',
          `refusing to delete through ${dirname(path)}: not a folder`,
        );
      await rm(path, { force: true });
    }
    await this.packs.refresh();
    await this.packs.delete(shas);
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
    const loose = new Set<string>();
    for (const prefix of names.sort()) {
      for (const name of (await readdir(join(this.root, prefix))).sort()) {
        if (SHA256.test(name)) {
          loose.add(name);
          yield name;
        }
      }
    }
    await this.packs.refresh();
    for (const sha of this.packs.shas()) if (!loose.has(sha)) yield sha;
  }
}
