import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { importSource } from './manifest.js';
import { FileContentStore } from './store.js';

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function freshStore() {
  const root = tempDir('store');
  return { root, store: new FileContentStore(join(root, 'chunks')) };
}

/** Every byte of a chunk through openChunk, read in blocks of `block` from `from` on. */
async function readOpened(store: FileContentStore, h: string, block: number, from = 0): Promise<Buffer> {
  const reader = await store.openChunk(h);
  try {
    const parts: Buffer[] = [];
    for (let at = from; ; ) {
      const buf = Buffer.alloc(block);
      const n = await reader.read(buf, at, block);
      if (n === 0) break;
      parts.push(buf.subarray(0, n));
      at += n;
    }
    return Buffer.concat(parts);
  } finally {
    await reader.close();
  }
}

describe('file content store', () => {
  it('stores by hash and reads back verified', async () => {
    const { store } = freshStore();
    await store.put(sha('abc'), Buffer.from('abc'));
    expect(await store.has(sha('abc'))).toBe(true);
    expect((await store.get(sha('abc'))).toString()).toBe('abc');
    const listed = [];
    for await (const s of store.list()) listed.push(s);
    expect(listed).toEqual([sha('abc')]);
  });

  it('refuses bytes that do not match their hash and keeps nothing of them', async () => {
    const { root, store } = freshStore();
    await expect(store.put(sha('abc'), Buffer.from('abd'))).rejects.toThrow(/arrived with hash/);
    expect(await store.has(sha('abc'))).toBe(false);
    expect(readdirSync(join(root, 'chunks', 'tmp'))).toEqual([]);
  });

  it('stores a batch, rejecting only the chunks that do not match', async () => {
    const { store } = freshStore();
    const { rejected } = await store.putMany([
      { sha: sha('one'), data: Buffer.from('one') },
      { sha: sha('two'), data: Buffer.from('tw0') },
      { sha: sha('three'), data: Buffer.from('three') },
    ]);
    expect(rejected.map((r) => r.sha)).toEqual([sha('two')]);
    expect(await store.has(sha('one'))).toBe(true);
    expect(await store.has(sha('two'))).toBe(false);
    expect(await store.has(sha('three'))).toBe(true);
  });

  it('stores batches that arrive together in group commits: each visible only once its own batch is durable', async () => {
    const { root, store } = freshStore();
    const big = (i: number) => Buffer.alloc(100 * 1024, i);
    const batches = Array.from({ length: 6 }, (_, b) => [0, 1, 2].map((k) => big(b * 3 + k + 1)));
    // A batch still arriving: its first chunk is written, but it stays invisible until the batch ends.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const late = big(99);
    async function* arriving() {
      yield { sha: sha(late), data: late };
      await gate;
    }
    const lateDone = store.putMany(arriving());
    const results = await Promise.all(
      batches.map((chunks) => store.putMany(chunks.map((data) => ({ sha: sha(data), data })))),
    );
    expect(results.every((r) => r.rejected.length === 0)).toBe(true);
    expect(await store.has(sha(late))).toBe(false);
    release();
    await lateDone;
    const again = new FileContentStore(join(root, 'chunks'));
    for (const data of [...batches.flat(), late])
      expect((await again.get(sha(data))).equals(data)).toBe(true);
    expect(readdirSync(join(root, 'chunks', 'tmp'))).toEqual([]);
  });

  it('opens a chunk to read by position: its size, any block size, from an offset, to its end', async () => {
    const { store } = freshStore();
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    await store.put(sha(data), data);
    const reader = await store.openChunk(sha(data));
    expect(reader.size).toBe(data.length);
    const buf = Buffer.alloc(10);
    expect(await reader.read(buf, 99_995, 10)).toBe(5);
    expect(buf.subarray(0, 5).equals(data.subarray(99_995))).toBe(true);
    expect(await reader.read(buf, data.length, 10)).toBe(0);
    await reader.close();
    for (const block of [1000, 4096, 65_536, 200_000])
      expect((await readOpened(store, sha(data), block)).equals(data)).toBe(true);
    expect((await readOpened(store, sha(data), 777, 12_345)).equals(data.subarray(12_345))).toBe(true);
  });

  it('an opened chunk stays readable when it is deleted meanwhile; a missing one is CONTENT_MISSING', async () => {
    const { store } = freshStore();
    const data = Buffer.from('x'.repeat(70_000));
    await store.put(sha(data), data);
    const reader = await store.openChunk(sha(data));
    await store.delete([sha(data)]);
    const buf = Buffer.alloc(data.length);
    expect(await reader.read(buf, 0, buf.length)).toBe(data.length);
    expect(buf.equals(data)).toBe(true);
    await reader.close();
    await expect(store.openChunk(sha(data))).rejects.toMatchObject({ code: 'OUTPOST_CONTENT_MISSING' });
    await expect(store.openChunk('not a hash')).rejects.toMatchObject({ code: 'OUTPOST_BAD_INPUT' });
  });

  it('detects a chunk corrupted on disk', async () => {
    const { root, store } = freshStore();
    const h = sha('abc');
    await store.put(h, Buffer.from('abc'));
    writeFileSync(join(root, 'chunks', h.slice(0, 2), h), 'abd');
    await expect(store.get(h)).rejects.toThrow(/corrupt/);
  });
});

describe('pack files', () => {
  const small = (n: number, tag = '') =>
    Array.from({ length: n }, (_, i) => {
      const data = Buffer.from(`small chunk ${tag}${i} `.repeat(i + 1));
      return { sha: sha(data), data };
    });
  const listAll = async (store: FileContentStore) => {
    const out: string[] = [];
    for await (const s of store.list()) out.push(s);
    return out.sort();
  };

  it('keeps a batch of small chunks in one pack that a new store reads back, verified', async () => {
    const { root, store } = freshStore();
    const chunks = small(20);
    await store.putMany(chunks);
    expect(readdirSync(join(root, 'chunks', 'packs')).sort()).toEqual([
      expect.stringMatching(/\.idx$/),
      expect.stringMatching(/\.pack$/),
    ]);
    const again = new FileContentStore(join(root, 'chunks'));
    for (const c of chunks) expect((await again.get(c.sha)).equals(c.data)).toBe(true);
    expect(await listAll(again)).toEqual(chunks.map((c) => c.sha).sort());
  });

  it('sees packs another process of the site wrote after it started', async () => {
    const { root, store } = freshStore();
    const other = new FileContentStore(join(root, 'chunks'));
    expect(await other.has(sha('nothing'))).toBe(false);
    const chunks = small(10);
    await store.putMany(chunks);
    expect(await other.has(chunks[3].sha)).toBe(true);
  });

  it('deletes part of a pack (its index rewritten) and all of it (both files gone)', async () => {
    const { root, store } = freshStore();
    const chunks = small(10);
    await store.putMany(chunks);
    const gone = chunks.slice(0, 4).map((c) => c.sha);
    await store.delete(gone);
    const again = new FileContentStore(join(root, 'chunks'));
    expect(await listAll(again)).toEqual(
      chunks
        .slice(4)
        .map((c) => c.sha)
        .sort(),
    );
    expect(await again.has(gone[0])).toBe(false);
    await again.delete(chunks.slice(4).map((c) => c.sha));
    expect(readdirSync(join(root, 'chunks', 'packs'))).toEqual([]);
    expect(await listAll(new FileContentStore(join(root, 'chunks')))).toEqual([]);
  });

  it('opens a packed chunk (of a pack written by another process too) to read only its own bytes', async () => {
    const { root, store } = freshStore();
    const chunks = small(12);
    const other = new FileContentStore(join(root, 'chunks'));
    expect(await other.has(chunks[0].sha)).toBe(false);
    await store.putMany(chunks);
    for (const c of [chunks[0], chunks[5], chunks[11]]) {
      for (const s of [store, other]) {
        expect((await readOpened(s, c.sha, 7)).equals(c.data)).toBe(true);
        expect((await readOpened(s, c.sha, 1024, 3)).equals(c.data.subarray(3))).toBe(true);
      }
    }
  });

  it('detects a packed chunk corrupted on disk', async () => {
    const { root, store } = freshStore();
    const chunks = small(10);
    await store.putMany(chunks);
    const dir = join(root, 'chunks', 'packs');
    const pack = join(dir, readdirSync(dir).find((n) => n.endsWith('.pack')) ?? '');
    const bytes = readFileSync(pack);
    bytes[0] ^= 0xff;
    writeFileSync(pack, bytes);
    await expect(new FileContentStore(join(root, 'chunks')).get(chunks[0].sha)).rejects.toThrow(/corrupt/);
  });

  it('a pack a crash left without its index does not count and is removed at start', async () => {
    const { root, store } = freshStore();
    const chunks = small(10);
    await store.putMany(chunks);
    const dir = join(root, 'chunks', 'packs');
    const index = readdirSync(dir).find((n) => n.endsWith('.idx')) ?? '';
    rmSync(join(dir, index));
    const again = new FileContentStore(join(root, 'chunks'));
    expect(await again.has(chunks[0].sha)).toBe(false);
    await again.clearTemporary();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('imports a source of many small files into a few packs, reporting progress', async () => {
    const { root, store } = freshStore();
    const src = join(root, 'src');
    mkdirSync(src);
    for (let i = 0; i < 1000; i++) writeFileSync(join(src, `f${String(i).padStart(4, '0')}`), `file ${i}`);
    const seen: number[] = [];
    const files = await importSource(src, store, (p) => seen.push(p.filesDone));
    expect(files).toHaveLength(1000);
    expect(seen.at(-1)).toBe(1000);
    expect(readdirSync(join(root, 'chunks', 'packs')).length).toBeLessThanOrEqual(
      2 * Math.ceil(1000 / 128) + 2,
    );
    expect((await store.get(files[999].chunks[0][0])).toString()).toBe('file 999');
  });
});

describe('source import and materialisation', () => {
  it('round-trips a folder, sharing identical files', async () => {
    const { root, store } = freshStore();
    const src = join(root, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'same');
    writeFileSync(join(src, 'sub', 'b.txt'), 'same');
    writeFileSync(join(src, 'empty'), '');
    const files = await importSource(src, store);
    expect(files.map((f) => f.path)).toEqual(['a.txt', 'empty', 'sub/b.txt']);
    expect(files[0].sha256).toBe(sha('same'));
    let count = 0;
    for await (const _ of store.list()) count++;
    expect(count).toBe(1);
    const chunk = files[2].chunks[0][0];
    expect((await store.get(chunk)).toString()).toBe('same');
    expect(files[1]).toMatchObject({ path: 'empty', size: 0, chunks: [] });
  });

  it('refuses symlinks and odd names before storing anything', async () => {
    const { root, store } = freshStore();
    const src = join(root, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'a');
    symlinkSync('/etc/passwd', join(src, 'z-link'));
    await expect(importSource(src, store)).rejects.toThrow(/symbolic link/);
    let count = 0;
    for await (const _ of store.list()) count++;
    expect(count).toBe(0);
    const src2 = join(root, 'src2');
    mkdirSync(src2);
    writeFileSync(join(src2, 'a\\b'), 'x');
    await expect(importSource(src2, store)).rejects.toThrow(/backslash/);
  });

  it('never deletes through a shard folder that is a symlink out of the library', async () => {
    const { root, store } = freshStore();
    await store.put(sha('kept'), Buffer.from('kept'));
    const outside = join(root, 'outside');
    const victim = sha('not ours');
    mkdirSync(outside);
    writeFileSync(join(outside, victim), 'not ours');
    symlinkSync(outside, join(root, 'chunks', victim.slice(0, 2)));
    const listed = [];
    for await (const s of store.list()) listed.push(s);
    expect(listed).toEqual([sha('kept')]);
    await expect(store.delete([victim])).rejects.toThrow(/refusing to delete/);
    expect(readdirSync(outside)).toEqual([victim]);
    await store.delete([sha('kept')]);
    expect(await store.has(sha('kept'))).toBe(false);
  });
});
