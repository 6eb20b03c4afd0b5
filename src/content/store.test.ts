import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('detects a chunk corrupted on disk', async () => {
    const { root, store } = freshStore();
    const h = sha('abc');
    await store.put(h, Buffer.from('abc'));
    writeFileSync(join(root, 'chunks', h.slice(0, 2), h), 'abd');
    await expect(store.get(h)).rejects.toThrow(/corrupt/);
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
    await expect(store.delete(victim)).rejects.toThrow(/refusing to delete/);
    expect(readdirSync(outside)).toEqual([victim]);
    await store.delete(sha('kept'));
    expect(await store.has(sha('kept'))).toBe(false);
  });
});
