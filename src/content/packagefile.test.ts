import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { type ForgedEntry as Forged, forgeTar } from '../../test/tar.js';
import { tempDir } from '../../test/tempdirs.js';
import {
  indexPackageFile,
  type PackageFileManifest,
  type PackageFileRefused,
  writePackageFile,
} from './packagefile.js';
import { type ChunkBytes, VerifyPool } from './verify.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function sample(
  dir: string,
): Promise<{ path: string; chunks: Buffer[]; manifest: PackageFileManifest }> {
  const chunks = [randomBytes(70_000), randomBytes(1000), randomBytes(513)];
  const manifest: PackageFileManifest = {
    format: 'outpost-package/1',
    id: 'C0100001',
    name: 'sample',
    sourceVersion: 2,
    origin: 'C01',
    files: [
      {
        path: 'a/b.bin',
        size: 71_000,
        sha256: sha(Buffer.concat(chunks.slice(0, 2))),
        chunks: chunks.slice(0, 2).map((c) => [sha(c), c.length]),
      },
      // The first chunk again: stored once.
      {
        path: 'c.bin',
        size: 70_513,
        sha256: sha(Buffer.concat([chunks[0], chunks[2]])),
        chunks: [chunks[0], chunks[2]].map((c) => [sha(c), c.length]),
      },
    ],
  };
  const byHash = new Map(chunks.map((c) => [sha(c), c]));
  const path = join(dir, 'C0100001-v2.opkg');
  await writePackageFile(
    path,
    manifest,
    async (h) => byHash.get(h) ?? Buffer.alloc(0),
    () => undefined,
  );
  return { path, chunks, manifest };
}

describe('package files', () => {
  it('are plain tar: the manifest, then each distinct chunk once, named by its hash', async () => {
    const { path, chunks, manifest } = await sample(tempDir('pkgfile'));
    const names: string[] = [];
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      names.push(header.name);
      stream.on('end', next);
      stream.resume();
    });
    await new Promise<void>((resolve, reject) => {
      extract.on('finish', () => resolve());
      extract.on('error', reject);
      createReadStream(path).pipe(extract);
    });
    expect(names).toEqual(['outpost-package.json', ...chunks.map((c) => `chunks/${sha(c)}`)]);
    const index = await indexPackageFile(path);
    expect(index.manifest).toEqual(manifest);
    const file = readFileSync(path);
    for (const c of index.chunks) expect(sha(file.subarray(c.offset, c.offset + c.size))).toBe(c.sha);
  });

  it('are verified on worker threads: a flipped byte is corrupt, the rest are handed back', async () => {
    const { path } = await sample(tempDir('pkgfile'));
    const { chunks } = await indexPackageFile(path);
    const file = readFileSync(path);
    file[chunks[1].offset] ^= 1;
    writeFileSync(path, file);
    const pool = new VerifyPool(2);
    const results = [];
    for await (const v of pool.verifyAll(chunks.map((c) => ({ file: path, ...c })))) results.push(v);
    await pool.close();
    expect(
      results
        .filter((r) => r.ok)
        .map((r) => r.chunk.sha)
        .sort(),
    ).toEqual([chunks[0].sha, chunks[2].sha].sort());
    const bad = results.find((r) => !r.ok);
    expect(bad && !bad.ok && bad.reason).toMatch(/^corrupt/);
  });

  it('a file cut short is truncated, and one that is not tar is not a package', async () => {
    const dir = tempDir('pkgfile');
    const { path } = await sample(dir);
    writeFileSync(join(dir, 'short.opkg'), readFileSync(path).subarray(0, 3000));
    writeFileSync(join(dir, 'text.opkg'), 'hello\n'.repeat(200));
    const reason = (p: string) =>
      indexPackageFile(p).then(
        () => 'taken',
        (err: PackageFileRefused) => err.reason,
      );
    expect(await reason(join(dir, 'short.opkg'))).toBe('truncated');
    expect(await reason(join(dir, 'text.opkg'))).toBe('not a package');
  });
});

describe('hostile package files', () => {
  /** The reason and message a forged file is refused with (or 'taken'). */
  async function refusal(dir: string, name: string, entries: Forged[]): Promise<[string, string]> {
    const path = join(dir, name);
    await forgeTar(path, entries);
    return indexPackageFile(path).then(
      () => ['taken', ''],
      (err: PackageFileRefused) => [err.reason, err.message],
    );
  }

  it('refuse entries that are not chunks: .., absolute names, links, folders, extended headers', async () => {
    const dir = tempDir('pkgfile-hostile');
    const { manifest, chunks } = await sample(dir);
    const head = { name: 'outpost-package.json', data: Buffer.from(JSON.stringify(manifest)) };
    const first = `chunks/${sha(chunks[0])}`;
    const cases: [string, Forged, string][] = [
      ['dotdot', { name: '../../evil', data: Buffer.from('x') }, "entry '../../evil' is not a chunk"],
      ['dotdot-chunk', { name: `chunks/../../${sha(chunks[0])}`, data: chunks[0] }, 'is not a chunk'],
      ['absolute', { name: '/tmp/evil', data: Buffer.from('x') }, "entry '/tmp/evil' is not a chunk"],
      ['symlink', { name: first, type: 'symlink', linkname: '/etc/passwd' }, "(tar type '2')"],
      ['hardlink', { name: first, type: 'link', linkname: '/etc/passwd' }, "(tar type '1')"],
      ['folder', { name: 'chunks', type: 'directory' }, "(tar type '5')"],
      ['pax', { name: first, data: chunks[0], pax: { path: '../../evil' } }, "(tar type 'x')"],
    ];
    for (const [name, entry, message] of cases) {
      const [reason, text] = await refusal(dir, `${name}.opkg`, [head, entry]);
      expect(reason, name).toBe('refused');
      expect(text, name).toContain(message);
    }
    // Reading never writes: nothing but the forged files appeared, and nothing outside.
    expect(readdirSync(dir).sort()).toEqual(
      ['C0100001-v2.opkg', ...cases.map(([name]) => `${name}.opkg`)].sort(),
    );
    expect(readdirSync(join(dir, '..')).includes('evil')).toBe(false);
  });

  it('refuse a manifest that lies: paths leaving the package, sizes that do not add up, chunks it does not list', async () => {
    const dir = tempDir('pkgfile-hostile');
    const { manifest, chunks } = await sample(dir);
    const entries = (m: unknown, extra: Forged[] = []): Forged[] => [
      { name: 'outpost-package.json', data: Buffer.from(JSON.stringify(m)) },
      ...chunks.map((c) => ({ name: `chunks/${sha(c)}`, data: c })),
      ...extra,
    ];
    const lie = (change: (m: PackageFileManifest) => void) => {
      const m = structuredClone(manifest);
      change(m);
      return m;
    };
    const other = randomBytes(100);
    const cases: [string, Forged[], string][] = [
      ['path-dotdot', entries(lie((m) => (m.files[0].path = '../../evil'))), "contains '..'"],
      ['path-inner-dotdot', entries(lie((m) => (m.files[0].path = 'a/../../evil'))), "contains '..'"],
      ['path-absolute', entries(lie((m) => (m.files[0].path = '/etc/cron.d/evil'))), 'absolute'],
      ['path-drive', entries(lie((m) => (m.files[0].path = 'C:/evil'))), 'absolute'],
      ['file-size', entries(lie((m) => (m.files[0].size += 1))), 'lists 71000 bytes of chunks'],
      [
        'chunk-size',
        entries(
          lie((m) => {
            // Consistent with its file, not with the chunk the file holds.
            m.files[1].chunks[1][1] += 1;
            m.files[1].size += 1;
          }),
        ),
        'its manifest says 514',
      ],
      [
        'unlisted-chunk',
        entries(manifest, [{ name: `chunks/${sha(other)}`, data: other }]),
        'not in its manifest',
      ],
      ['file-hash', entries(lie((m) => (m.files[0].sha256 = 'not a hash'))), 'is malformed'],
    ];
    for (const [name, forged, message] of cases) {
      const [reason, text] = await refusal(dir, `${name}.opkg`, forged);
      expect(reason, name).toBe('refused');
      expect(text, name).toContain(message);
    }
  });

  it('bytes fetched from elsewhere are verified on worker threads as they arrive', async () => {
    const good = randomBytes(5000);
    const flipped = Buffer.from(good);
    flipped[10] ^= 1;
    async function* arriving(): AsyncGenerator<ChunkBytes & { name: string }> {
      yield { name: 'good', sha: sha(good), size: good.length, data: Buffer.from(good) };
      // A slice of a larger buffer: copied, so only its own bytes travel.
      const wide = Buffer.concat([Buffer.alloc(7), flipped]);
      yield { name: 'flipped', sha: sha(good), size: good.length, data: wide.subarray(7) };
    }
    const pool = new VerifyPool(2);
    const results = [];
    for await (const v of pool.verifyAll(arriving())) results.push(v);
    await pool.close();
    const ok = results.find((r) => r.chunk.name === 'good');
    const bad = results.find((r) => r.chunk.name === 'flipped');
    expect(ok?.ok && ok.data.equals(good)).toBe(true);
    expect(bad && !bad.ok && bad.reason).toMatch(/^corrupt/);
  });
});
