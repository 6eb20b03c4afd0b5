import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fsyncDir } from '../common/index.js';
import { OutpostError } from '../errors/index.js';

const SHA256 = /^[0-9a-f]{64}$/;

/** Throws unless `sha` is a lower-case hex SHA-256. */
export function assertSha256(sha: string): string {
  if (!SHA256.test(sha)) throw new OutpostError('OUTPOST_BAD_INPUT', `'${sha}' is not a SHA-256 hash`);
  return sha;
}

/**
 * The content library's chunk store: single-instance by SHA-256. A chunk is only ever visible under
 * its hash once every byte has been checked against that hash and synced to disk.
 */
export interface ContentStore {
  has(sha: string): Promise<boolean>;
  /** Stores bytes that must hash to `sha`. */
  put(sha: string, data: Uint8Array): Promise<void>;
  /** Stores a stream that must hash to `sha` and be at most `maxBytes` long; returns its size. */
  putStream(
    sha: string,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    maxBytes: number,
  ): Promise<number>;
  /** Reads a chunk back, verifying it; a chunk that no longer matches its hash is an error. */
  get(sha: string): Promise<Buffer>;
  stream(sha: string): Readable;
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
    await this.putStream(sha, [data], data.length);
  }

  async putStream(
    sha: string,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    maxBytes: number,
  ): Promise<number> {
    const target = this.pathOf(sha);
    const tmpDir = join(this.root, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${sha}.${randomBytes(4).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const handle = await open(tmp, 'w');
    try {
      for await (const piece of body) {
        size += piece.length;
        if (size > maxBytes) {
          throw new OutpostError(
            'OUTPOST_TOO_LARGE',
            `chunk ${sha.slice(0, 12)} is larger than ${maxBytes} bytes`,
          );
        }
        hash.update(piece);
        await handle.write(piece);
      }
      const actual = hash.digest('hex');
      if (actual !== sha) {
        throw new OutpostError(
          'OUTPOST_HASH_MISMATCH',
          `chunk ${sha.slice(0, 12)} arrived with hash ${actual.slice(0, 12)}`,
        );
      }
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    await mkdir(join(this.root, sha.slice(0, 2)), { recursive: true });
    await rename(tmp, target);
    await fsyncDir(join(this.root, sha.slice(0, 2)));
    return size;
  }

  async get(sha: string): Promise<Buffer> {
    const data = await readFile(this.pathOf(sha)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT')
        throw new OutpostError(
          'OUTPOST_CONTENT_MISSING',
          `chunk ${sha.slice(0, 12)} is not in the content library`,
        );
      throw err;
    });
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha) {
      throw new OutpostError(
        'OUTPOST_HASH_MISMATCH',
        `chunk ${sha.slice(0, 12)} in the content library is corrupt`,
      );
    }
    return data;
  }

  stream(sha: string): Readable {
    return createReadStream(this.pathOf(sha));
  }

  async delete(sha: string): Promise<void> {
    await rm(this.pathOf(sha), { force: true });
  }

  async *list(): AsyncIterable<string> {
    let prefixes: string[];
    try {
      prefixes = await readdir(this.root);
    } catch {
      return;
    }
    for (const prefix of prefixes.sort()) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of (await readdir(join(this.root, prefix))).sort()) {
        if (SHA256.test(name)) yield name;
      }
    }
  }
}
