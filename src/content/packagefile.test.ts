import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import {
  indexPackageFile,
  type PackageFileManifest,
  type PackageFileRefused,
  writePackageFile,
} from './packagefile.js';
import { VerifyPool } from './verify.js';

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
