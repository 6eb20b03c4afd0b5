import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { ExportedFile, PreloadSummary } from '../../src/replication/index.js';
import { forgeTar } from '../tar.js';
import { cli, libraryIsSound, metric, sha256, tempDir, waitForPackageState } from './helpers.js';

const RECEIVED = 'outpost_despooler_bytes_total';

/** A source of a few large files (loose chunks) and a dozen small ones (packed). */
function makeSource(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `big-${i}.bin`), randomBytes(200 * 1024 + i));
  for (let i = 0; i < 12; i++) writeFileSync(join(dir, `small-${i}.txt`), randomBytes(3000 + i));
}

/**
 * A file that is one loose chunk (over 64 KiB) whose SHA-256 starts with `prefix`: in a content
 * library it is stored in a shard folder named `prefix` (`db/db…`), which is also the name of a data
 * directory's database folder.
 */
function oneChunkInShard(prefix: string): Buffer {
  for (;;) {
    const data = randomBytes(100 * 1024);
    if (sha256(data).startsWith(prefix)) return data;
  }
}

/** Where each tar entry's data starts: name → [offset, size]. */
function tarEntries(file: Buffer): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  let pos = 0;
  while (pos + 512 <= file.length && file[pos] !== 0) {
    const name = file
      .subarray(pos, pos + 100)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const size = Number.parseInt(
      file
        .subarray(pos + 124, pos + 136)
        .toString('ascii')
        .replace(/\0.*$/s, ''),
      8,
    );
    out.set(name, [pos + 512, size]);
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('content export and preload', { timeout: 180_000 }, () => {
  let h: Hierarchy;
  const base = tempDir('e2e-preload');
  const exported = join(base, 'exported');
  const pkgs: PackageView[] = [];

  beforeAll(async () => {
    h = await startHierarchy(base, [
      { code: 'C01', type: 'central' },
      { code: 'S02', type: 'secondary', parent: 'C01' },
      { code: 'S03', type: 'secondary', parent: 'C01' },
    ]);
    const { C01, S02 } = h.sites;
    for (const name of ['A', 'B', 'C', 'D']) {
      makeSource(join(base, `src-${name}`));
      if (name === 'D') writeFileSync(join(base, 'src-D', 'in-db-shard.bin'), oneChunkInShard('db'));
      pkgs.push(await C01.admin.post<PackageView>('/packages', { name, source: join(base, `src-${name}`) }));
    }
    // One at a time: each reaches the DP before the next is assigned.
    for (const p of pkgs.slice(0, 3)) {
      await C01.admin.post(`/packages/${p.id}/assign`, { dps: ['S02'] });
      await waitForPackageState(S02, p.id, 'S02', 'Installed', 120_000);
    }
  }, 180_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('exports a DP to package files at S02, resumably, and S03 preloaded from them is sent no content bytes', async () => {
    const { C01, S02, S03 } = h.sites;
    const exportS02 = () =>
      cli(['content', 'export', '--dp', 'S02', '--out', exported, '--json', '--data', S02.dataDir]);
    const first = await exportS02();
    expect(first.code, first.stderr).toBe(0);
    const files = (JSON.parse(first.stdout) as { files: ExportedFile[] }).files;
    expect(files.map((f) => [f.id, f.state])).toEqual(pkgs.slice(0, 3).map((p) => [p.id, 'written']));
    expect(readdirSync(exported).sort()).toEqual(files.map((f) => `${f.id}-v1.opkg`).sort());
    // A standard tar: the manifest first, then one entry per chunk named by its hash.
    const names = [...tarEntries(readFileSync(files[0].file)).keys()];
    expect(names[0]).toBe('outpost-package.json');
    expect(names.slice(1).every((n) => /^chunks\/[0-9a-f]{64}$/.test(n))).toBe(true);

    const again = await exportS02();
    expect(again.code, again.stderr).toBe(0);
    expect(
      (JSON.parse(again.stdout) as { files: ExportedFile[] }).files.every((f) => f.state === 'present'),
    ).toBe(true);

    // Preload A and B only (C's file is there too): C is left alone.
    const pre = await cli([
      'content',
      'preload',
      '--dir',
      exported,
      pkgs[0].id,
      pkgs[1].id,
      '--json',
      '--data',
      S03.dataDir,
    ]);
    expect(pre.code, pre.stderr).toBe(0);
    const summary = JSON.parse(pre.stdout) as PreloadSummary;
    expect([...summary.imported].sort()).toEqual([pkgs[0].id, pkgs[1].id]);
    expect(summary.skipped).toEqual([]);
    expect(summary.chunks.imported).toBeGreaterThan(0);

    // Rerun: everything it needs is already in the library, so nothing is read or verified again.
    const rerun = await cli(['content', 'preload', '--dir', exported, '--json', '--data', S03.dataDir]);
    expect(rerun.code, rerun.stderr).toBe(0);
    const second = JSON.parse(rerun.stdout) as PreloadSummary;
    const sizeC = files[2].bytes;
    expect(second.chunks.alreadyHeld).toBe(summary.chunks.imported);
    expect(second.chunks.bytes).toBe(sizeC);
    expect(second.bytesVerified).toBe(sizeC);
    expect(second.chunks.alreadyHeldBytes).toBe(summary.chunks.bytes);
    expect([...second.imported].sort()).toEqual(pkgs.slice(0, 3).map((p) => p.id));

    // Preload, then assign: the offer finds nothing missing.
    for (const p of pkgs.slice(0, 3)) {
      await C01.admin.post(`/packages/${p.id}/assign`, { dps: ['S03'] });
      await waitForPackageState(S03, p.id, 'S03', 'Installed', 120_000);
    }
    expect(await metric(S03.url, RECEIVED)).toBe(0);
    expect(await libraryIsSound(S03.dataDir)).toBe(true);
  });

  it('assign, then preload from a copied data directory (a chunk in shard db/ too): the waiting job sends no content bytes', async () => {
    const { C01, S02, S03 } = h.sites;
    const D = pkgs[3];
    await C01.admin.post(`/packages/${D.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(S02, D.id, 'S02', 'Installed', 120_000);
    const copy = join(base, 's02-copy');
    cpSync(S02.dataDir, copy, { recursive: true });

    // The link to S03 is closed for now, so the job waits.
    const hour = (new Date().getHours() + 2) % 24;
    await C01.admin.put('/addresses/S03', { schedule: `${hour}-${(hour + 1) % 24}` });
    await C01.admin.post(`/packages/${D.id}/assign`, { dps: ['S03'] });
    const before = await metric(S03.url, RECEIVED);

    const pre = await cli(['content', 'preload', '--dir', copy, '--json', '--data', S03.dataDir]);
    expect(pre.code, pre.stderr).toBe(0);
    const summary = JSON.parse(pre.stdout) as PreloadSummary;
    expect(summary.imported).toContain(D.id);
    expect(summary.skipped).toEqual([]);

    await C01.admin.put('/addresses/S03', { schedule: null });
    await waitForPackageState(S03, D.id, 'S03', 'Installed', 120_000);
    expect(await metric(S03.url, RECEIVED)).toBe(before);
  });

  it('reports corrupt, truncated, foreign and hostile files and imports nothing from them', async () => {
    const { C01, S03 } = h.sites;
    makeSource(join(base, 'src-E'));
    const E = await C01.admin.post<PackageView>('/packages', { name: 'E', source: join(base, 'src-E') });
    const one = join(base, 'one');
    const r = await cli([
      'content',
      'export',
      '--package',
      E.id,
      '--out',
      one,
      '--json',
      '--data',
      C01.dataDir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const good = readFileSync(join(one, `${E.id}-v1.opkg`));
    const entries = tarEntries(good);
    const manifestAt = entries.get('outpost-package.json') ?? [0, 0];
    const manifest = JSON.parse(good.subarray(manifestAt[0], manifestAt[0] + manifestAt[1]).toString('utf8'));
    const chunkNames = [...entries.keys()].filter((n) => n.startsWith('chunks/'));
    const chunkOf = (n: string) => {
      const [at, size] = entries.get(n) ?? [0, 0];
      return good.subarray(at, at + size);
    };

    const bad = join(base, 'bad');
    mkdirSync(bad, { recursive: true });
    const corrupt = Buffer.from(good);
    const [bigAt] = entries.get(chunkNames[0]) ?? [0];
    corrupt[bigAt + 10] ^= 0xff;
    writeFileSync(join(bad, 'corrupt.opkg'), corrupt);
    writeFileSync(join(bad, 'truncated.opkg'), good.subarray(0, good.length - 5000));
    writeFileSync(join(bad, 'notes.txt'), 'not a package\n');
    const manifestEntry = { name: 'outpost-package.json', data: Buffer.from(JSON.stringify(manifest)) };
    await forgeTar(join(bad, 'dotdot.opkg'), [manifestEntry, { name: '../../evil', data: Buffer.from('x') }]);
    await forgeTar(join(bad, 'absolute.opkg'), [
      manifestEntry,
      { name: '/tmp/evil', data: Buffer.from('x') },
    ]);
    await forgeTar(join(bad, 'symlink.opkg'), [
      manifestEntry,
      { name: chunkNames[0], type: 'symlink', linkname: '/etc/passwd' },
    ]);
    await forgeTar(join(bad, 'hardlink.opkg'), [
      manifestEntry,
      { name: chunkNames[0], type: 'link', linkname: '/etc/passwd' },
    ]);
    const withChunks = (m: unknown) => [
      { name: 'outpost-package.json', data: Buffer.from(JSON.stringify(m)) },
      ...chunkNames.map((n) => ({ name: n, data: chunkOf(n) })),
    ];
    const dotdotPath = structuredClone(manifest);
    dotdotPath.files[0].path = '../../evil';
    await forgeTar(join(bad, 'dotdot-path.opkg'), withChunks(dotdotPath));
    const absolutePath = structuredClone(manifest);
    absolutePath.files[0].path = '/tmp/evil';
    await forgeTar(join(bad, 'absolute-path.opkg'), withChunks(absolutePath));
    const lyingSize = structuredClone(manifest);
    lyingSize.files[0].size += 1;
    await forgeTar(join(bad, 'lying-size.opkg'), withChunks(lyingSize));
    const lyingHash = structuredClone(manifest);
    lyingHash.files[0].sha256 = 'f'.repeat(64);
    await forgeTar(join(bad, 'lying-hash.opkg'), withChunks(lyingHash));

    const pre = await cli(['content', 'preload', '--dir', bad, E.id, '--json', '--data', S03.dataDir]);
    expect(pre.code, pre.stderr).toBe(0);
    const s = JSON.parse(pre.stdout) as PreloadSummary;
    const reason = (item: string) => s.skipped.filter((n) => n.path === item).map((n) => n.reason);
    expect(reason('corrupt.opkg')).toEqual(['corrupt']);
    expect(reason('truncated.opkg')).toEqual(['truncated']);
    expect(reason('notes.txt')).toEqual(['not a package']);
    for (const f of [
      'dotdot.opkg',
      'absolute.opkg',
      'symlink.opkg',
      'hardlink.opkg',
      'dotdot-path.opkg',
      'absolute-path.opkg',
      'lying-size.opkg',
      'lying-hash.opkg',
    ])
      expect(reason(f), f).toEqual(['refused']);
    expect(s.skipped.find((n) => n.path === 'dotdot.opkg')?.detail).toContain('../../evil');
    // The corrupt chunk was not imported, so E is not whole; nothing landed outside the data directory.
    expect(s.imported).toEqual([]);
    expect(existsSync(join(base, 'evil'))).toBe(false);
    expect(existsSync('/tmp/evil')).toBe(false);
    expect(await libraryIsSound(S03.dataDir)).toBe(true);

    // The good file alongside fills in the rest.
    writeFileSync(join(bad, 'good.opkg'), good);
    const fixed = await cli(['content', 'preload', '--dir', bad, E.id, '--json', '--data', S03.dataDir]);
    const after = JSON.parse(fixed.stdout) as PreloadSummary;
    expect(after.imported).toEqual([E.id]);
    expect(after.chunks.imported).toBe(1);
  });

  it('refuses a folder it cannot read, and an export of a package not whole here', async () => {
    const { S03 } = h.sites;
    const missing = await cli(['content', 'preload', '--dir', join(base, 'nowhere'), '--data', S03.dataDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('is not a folder');
    const none = await cli(['content', 'export', '--out', join(base, 'x'), '--data', S03.dataDir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('either --package');
  });
});
