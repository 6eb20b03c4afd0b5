import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileContentStore } from '../../src/content/index.js';
import { type Hierarchy, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { libraryIsSound, sha256, tempDir, waitForPackageState } from './helpers.js';

const FILES = 3000;
/**
 * Both servers run with this few descriptors once started (Node's module loader needs more while it
 * starts): without a bound on open files, one transfer block of 128 small chunks, read at the
 * sender or written at the child, would open more than this at once and fail with EMFILE.
 */
const OPEN_FILES = 110;

/** Files 2000 and up repeat the content of files 0 to 999. */
const contentOf = (i: number) => `small file ${i % 2000}\n`.repeat(1 + (i % 40));

async function libraryChunks(dataDir: string): Promise<number> {
  let n = 0;
  for await (const _ of new FileContentStore(join(dataDir, 'content', 'chunks')).list()) n++;
  return n;
}

describe(`a package of ${FILES} small files, with servers limited to ${OPEN_FILES} open files`, () => {
  let h: Hierarchy;
  const base = tempDir('e2e-small-files');
  const source = join(base, 'src');

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    for (const site of Object.values(h.sites)) {
      const pid = String(site.process.child.pid);
      execFileSync('prlimit', ['--pid', pid, `--nofile=${OPEN_FILES}:${OPEN_FILES}`]);
    }
    for (let i = 0; i < FILES; i++) {
      const dir = join(source, `d${Math.floor(i / 500)}`);
      if (i % 500 === 0) mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `f${i}.txt`), contentOf(i));
    }
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('is created, reaches Installed at the child, is served right and freed after unassign', async () => {
    const { C01, S02 } = h.sites;
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Many small files', source });
    expect(pkg.files).toHaveLength(FILES);
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 120_000);
    for (const i of [0, 1, 777, 1499, FILES - 1]) {
      const res = await fetch(`${S02.url}/dp/${pkg.id}/d${Math.floor(i / 500)}/f${i}.txt`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(contentOf(i));
      expect(res.headers.get('etag')).toBe(`"${sha256(contentOf(i))}"`);
    }
    expect(await libraryIsSound(S02.dataDir)).toBe(true);
    // The library holds each distinct content once.
    expect(await libraryChunks(C01.dataDir)).toBe(2000);
    expect(await libraryChunks(S02.dataDir)).toBe(2000);

    await C01.admin.post(`/packages/${pkg.id}/unassign`, { dps: ['S02'] });
    await waitFor('S02 to free every chunk of the package', 60_000, async () => {
      return (await libraryChunks(S02.dataDir)) === 0;
    });
  }, 240_000);
});
