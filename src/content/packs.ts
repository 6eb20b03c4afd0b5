import { randomBytes } from 'node:crypto';
import { type Dirent, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath, type Limiter, writeFileAtomic } from '../common/index.js';
import { type ChunkReader, rangeReader } from './reader.js';

/**
 * Pack files: many small chunks in one file, so a package of a hundred thousand small files costs
 * a few hundred files, syncs and renames in the library instead of a hundred thousand of each (as
 * git, restic and casync do). `packs/ID.pack` holds the chunks back to back; `packs/ID.idx` lists
 * `sha offset size` per line. The index is renamed into place after the pack, so a pack counts only
 * once its index exists; a crash between the two leaves a pack with no index, removed at start.
 * Deleting chunks rewrites the index without them, and removes both files once nothing is left.
 */

/** Where a packed chunk is. */
interface Location {
  pack: string;
  offset: number;
  size: number;
}

const PACK_ID = /^[0-9a-z]+-[0-9a-f]{12}$/;

/** The entries of a pack index file: each chunk, its offset in the pack and its size. */
export function parseIndex(text: string): { sha: string; offset: number; size: number }[] {
  const entries = [];
  for (const line of text.split('\n')) {
    const [sha, offset, size] = line.split(' ');
    if (sha && /^[0-9a-f]{64}$/.test(sha)) entries.push({ sha, offset: Number(offset), size: Number(size) });
  }
  return entries;
}

const formatIndex = (entries: { sha: string; offset: number; size: number }[]) =>
  entries.map((e) => `${e.sha} ${e.offset} ${e.size}\n`).join('');

export class PackIndex {
  private readonly where = new Map<string, Location>();
  private readonly members = new Map<string, Set<string>>();
  private loadedAt = -1;

  constructor(
    private readonly dir: string,
    private readonly files: Limiter,
  ) {}

  /**
   * Reads every index not read yet, when the folder changed since the last look (another process
   * of the same site may have written packs).
   */
  async refresh(): Promise<void> {
    const info = await stat(this.dir).catch(() => null);
    if (!info || info.mtimeMs === this.loadedAt) return;
    this.loadedAt = info.mtimeMs;
    for (const name of await readdir(this.dir)) {
      const id = name.endsWith('.idx') ? name.slice(0, -4) : '';
      if (!PACK_ID.test(id) || this.members.has(id)) continue;
      const text = await readFile(join(this.dir, name), 'utf8').catch(() => '');
      this.remember(id, parseIndex(text));
    }
  }

  private remember(pack: string, entries: { sha: string; offset: number; size: number }[]): void {
    const members = new Set<string>();
    for (const e of entries) {
      if (!this.where.has(e.sha)) this.where.set(e.sha, { pack, offset: e.offset, size: e.size });
      members.add(e.sha);
    }
    this.members.set(pack, members);
  }

  has(sha: string): boolean {
    return this.where.has(sha);
  }

  shas(): string[] {
    return [...this.where.keys()];
  }

  /** The bytes of a packed chunk, or null if it is not packed. */
  async read(sha: string): Promise<Buffer | null> {
    const at = this.where.get(sha);
    if (!at) return null;
    return this.files(async () => {
      const handle = await open(join(this.dir, `${at.pack}.pack`), 'r');
      try {
        const data = Buffer.allocUnsafe(at.size);
        const { bytesRead } = await handle.read(data, 0, at.size, at.offset);
        return data.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    });
  }

  /** A packed chunk opened for reading by position, or null if it is not packed. */
  async open(sha: string): Promise<ChunkReader | null> {
    const at = this.where.get(sha);
    if (!at) return null;
    return rangeReader(await open(join(this.dir, `${at.pack}.pack`), 'r'), at.offset, at.size);
  }

  /**
   * Writes chunks (already verified) as a new pack in `tmpDir`, synced but not yet visible; the
   * returned function moves it into place and makes it count.
   */
  async write(tmpDir: string, chunks: { sha: string; data: Uint8Array }[]): Promise<Prepared> {
    const id = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const entries: { sha: string; offset: number; size: number }[] = [];
    let offset = 0;
    for (const c of chunks) {
      entries.push({ sha: c.sha, offset, size: c.data.byteLength });
      offset += c.data.byteLength;
    }
    const pack = join(tmpDir, `${id}.pack`);
    const index = join(tmpDir, `${id}.idx`);
    const writeSynced = (path: string, data: readonly Uint8Array[]) =>
      this.files(async () => {
        const handle = await open(path, 'w');
        try {
          await handle.writev(data);
          await handle.sync();
        } finally {
          await handle.close();
        }
      });
    const written = Promise.all([
      writeSynced(
        pack,
        chunks.map((c) => c.data),
      ),
      writeSynced(index, [Buffer.from(formatIndex(entries))]),
    ]);
    const leftovers = [pack, index];
    try {
      await written;
    } catch (err) {
      await Promise.all(leftovers.map((p) => rm(p, { force: true })));
      throw err;
    }
    return {
      leftovers,
      commit: async () => {
        if (!existsSync(this.dir)) await mkdir(this.dir, { recursive: true });
        await rename(pack, join(this.dir, `${id}.pack`));
        await rename(index, join(this.dir, `${id}.idx`));
        await this.files(() => fsyncPath(this.dir));
        this.remember(id, entries);
      },
    };
  }

  /** Forgets packed chunks: each pack's index is rewritten without them, or removed with its pack. */
  async delete(shas: readonly string[]): Promise<void> {
    const byPack = new Map<string, string[]>();
    for (const sha of shas) {
      const at = this.where.get(sha);
      if (!at) continue;
      const gone = byPack.get(at.pack);
      if (gone) gone.push(sha);
      else byPack.set(at.pack, [sha]);
    }
    for (const [pack, gone] of byPack) {
      const members = this.members.get(pack) ?? new Set<string>();
      for (const sha of gone) {
        members.delete(sha);
        this.where.delete(sha);
      }
      const idx = join(this.dir, `${pack}.idx`);
      if (members.size === 0) {
        // The index first: a pack without one is a leftover, removed at the next start.
        await rm(idx, { force: true });
        await rm(join(this.dir, `${pack}.pack`), { force: true });
        this.members.delete(pack);
        continue;
      }
      const kept = parseIndex(await readFile(idx, 'utf8')).filter((e) => members.has(e.sha));
      await writeFileAtomic(idx, formatIndex(kept));
    }
  }

  /** Removes packs a crash left without an index, and indexes' temporaries; run before serving. */
  async clearLeftovers(): Promise<void> {
    let names: Dirent[];
    try {
      names = await readdir(this.dir, { withFileTypes: true });
    } catch {
      return;
    }
    const indexed = new Set(names.filter((n) => n.name.endsWith('.idx')).map((n) => n.name.slice(0, -4)));
    for (const n of names) {
      const orphan = n.name.endsWith('.pack') && !indexed.has(n.name.slice(0, -5));
      if (n.isFile() && (orphan || n.name.endsWith('.tmp')))
        await rm(join(this.dir, n.name), { force: true });
    }
  }
}

/** A pack written and synced, waiting to be moved into place. */
export interface Prepared {
  leftovers: string[];
  commit(): Promise<void>;
}
