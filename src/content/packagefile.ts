import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import tar from 'tar-stream';
import { fsyncPath } from '../common/index.js';
import { MAX_CHUNK } from './chunker.js';
import type { ManifestFile } from './manifest.js';
import { assertPackagePath } from './paths.js';

/**
 * Package files (docs/PACKAGE-FILE.md): one package version in a plain POSIX tar. The first entry,
 * `outpost-package.json`, is the manifest; then every distinct chunk once, as `chunks/<sha256>`.
 * Each chunk is named by its hash, so the file verifies itself chunk by chunk, and the manifest's
 * file hashes verify the files rebuilt from it.
 */
export const PACKAGE_FILE_MANIFEST = 'outpost-package.json';
export const PACKAGE_FILE_FORMAT = 'outpost-package/1';
export const PACKAGE_FILE_SUFFIX = '.opkg';

/** The manifest entry of a package file. */
export interface PackageFileManifest {
  format: typeof PACKAGE_FILE_FORMAT;
  id: string;
  name: string;
  sourceVersion: number;
  origin: string;
  files: ManifestFile[];
}

/** A chunk inside a package file: where its bytes start and how many there are. */
export interface PackedChunk {
  sha: string;
  offset: number;
  size: number;
}

/** The name a package version's file has: `ID-vN.opkg`. */
export function packageFileName(id: string, version: number): string {
  return `${id}-v${version}${PACKAGE_FILE_SUFFIX}`;
}

/** The distinct chunks of a manifest, in first-use order. */
export function distinctChunks(files: readonly ManifestFile[]): [string, number][] {
  const seen = new Set<string>();
  const out: [string, number][] = [];
  for (const f of files)
    for (const [sha, size] of f.chunks) {
      if (seen.has(sha)) continue;
      seen.add(sha);
      out.push([sha, size]);
    }
  return out;
}

/**
 * Writes a package file to `path`: under a temporary name beside it, synced, then renamed, so a
 * file under its final name is always whole. `read` gives each chunk's bytes.
 */
export async function writePackageFile(
  path: string,
  manifest: PackageFileManifest,
  read: (sha: string) => Promise<Buffer>,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const tmp = `${path}.partial`;
  const pack = tar.pack();
  const out = createWriteStream(tmp);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
    pack.on('error', reject);
  });
  pack.pipe(out);
  const entry = (name: string, data: Buffer) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  try {
    await entry(PACKAGE_FILE_MANIFEST, Buffer.from(JSON.stringify(manifest)));
    for (const [sha] of distinctChunks(manifest.files)) {
      const data = await read(sha);
      await entry(`chunks/${sha}`, data);
      onBytes(data.length);
      // Holds no more than a chunk or two that the file system has not taken yet.
      if (out.writableNeedDrain) await once(out, 'drain');
    }
    pack.finalize();
    await done;
    await fsyncPath(tmp);
    await rename(tmp, path);
    await fsyncPath(dirname(path));
  } catch (err) {
    pack.destroy();
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Why a file is not a package file that can be used, as preload reports it. */
export class PackageFileRefused extends Error {
  constructor(
    readonly reason: 'not a package' | 'unreadable' | 'truncated' | 'refused',
    message: string,
  ) {
    super(message);
  }
}

const BLOCK = 512;
const CHUNK_NAME = /^chunks\/([0-9a-f]{64})$/;

function octal(header: Buffer, start: number, length: number): number {
  const text = header
    .subarray(start, start + length)
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .trim();
  return text ? Number.parseInt(text, 8) : Number.NaN;
}

function headerName(header: Buffer): string {
  const field = (start: number, length: number) => {
    const raw = header.subarray(start, start + length);
    const end = raw.indexOf(0);
    return raw.subarray(0, end < 0 ? length : end).toString('utf8');
  };
  const prefix = header.subarray(257, 263).toString('ascii').startsWith('ustar') ? field(345, 155) : '';
  const name = field(0, 100);
  return prefix ? `${prefix}/${name}` : name;
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
  return sum === octal(header, 148, 8);
}

/**
 * Reads a package file's manifest and where each chunk is, without reading the chunks. Anything a
 * package file must not hold refuses the whole file: an entry that is not a regular file (a link,
 * a folder, an extended header), a name other than the manifest or `chunks/<sha256>` (so `..` and
 * absolute names never pass), a chunk that is not in the manifest or whose size is not the one the
 * manifest gives, and a manifest whose chunks do not add up to its files. Nothing in it is ever
 * written under its own name. A file cut short is `truncated`.
 */
export async function indexPackageFile(
  path: string,
): Promise<{ manifest: PackageFileManifest; chunks: PackedChunk[] }> {
  const handle = await open(path, 'r').catch((err: Error) => {
    throw new PackageFileRefused('unreadable', err.message);
  });
  try {
    const { size: fileSize } = await handle.stat();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let manifest: PackageFileManifest | null = null;
    let sizes = new Map<string, number>();
    const chunks: PackedChunk[] = [];
    for (;;) {
      if (pos + BLOCK > fileSize) {
        if (!manifest) throw new PackageFileRefused('not a package', 'not a tar file');
        throw new PackageFileRefused('truncated', `the file ends after ${fileSize} bytes, inside the tar`);
      }
      await handle.read(header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) break;
      if (!checksumOk(header)) {
        if (!manifest) throw new PackageFileRefused('not a package', 'not a tar file');
        throw new PackageFileRefused('unreadable', `damaged tar header at byte ${pos}`);
      }
      const name = headerName(header);
      const type = String.fromCharCode(header[156]);
      const size = octal(header, 124, 12);
      const data = pos + BLOCK;
      if (type !== '0' && type !== '\0')
        throw new PackageFileRefused('refused', `entry '${name}' is not a regular file (tar type '${type}')`);
      if (!Number.isSafeInteger(size) || size < 0)
        throw new PackageFileRefused('refused', `entry '${name}' has no valid size`);
      if (data + size > fileSize)
        throw new PackageFileRefused('truncated', `entry '${name}' ends past the end of the file`);
      if (!manifest) {
        if (name !== PACKAGE_FILE_MANIFEST)
          throw new PackageFileRefused(
            'not a package',
            `its first entry is '${name}', not ${PACKAGE_FILE_MANIFEST}`,
          );
        if (size > 1024 * 1024 * 1024) throw new PackageFileRefused('refused', 'its manifest is over 1 GiB');
        const text = Buffer.alloc(size);
        await handle.read(text, 0, size, data);
        manifest = parseManifest(text.toString('utf8'));
        sizes = new Map(distinctChunks(manifest.files));
      } else {
        const sha = CHUNK_NAME.exec(name)?.[1];
        if (!sha) throw new PackageFileRefused('refused', `entry '${name}' is not a chunk: refused`);
        const expected = sizes.get(sha);
        if (expected === undefined)
          throw new PackageFileRefused('refused', `chunk ${sha.slice(0, 12)} is not in its manifest`);
        if (expected !== size)
          throw new PackageFileRefused(
            'refused',
            `chunk ${sha.slice(0, 12)} is ${size} bytes; its manifest says ${expected}`,
          );
        chunks.push({ sha, offset: data, size });
      }
      pos = data + Math.ceil(size / BLOCK) * BLOCK;
    }
    if (!manifest) throw new PackageFileRefused('not a package', 'an empty tar file');
    return { manifest, chunks };
  } finally {
    await handle.close();
  }
}

function parseManifest(text: string): PackageFileManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PackageFileRefused('unreadable', 'its manifest is not JSON');
  }
  const m = value as Partial<PackageFileManifest> | null;
  if (m?.format !== PACKAGE_FILE_FORMAT)
    throw new PackageFileRefused('not a package', `its manifest is not ${PACKAGE_FILE_FORMAT}`);
  if (
    typeof m.id !== 'string' ||
    typeof m.name !== 'string' ||
    typeof m.origin !== 'string' ||
    !Number.isSafeInteger(m.sourceVersion) ||
    !Array.isArray(m.files)
  )
    throw new PackageFileRefused('refused', 'its manifest lacks id, name, origin, sourceVersion or files');
  for (const f of m.files) {
    try {
      assertPackagePath(f.path);
    } catch (err) {
      throw new PackageFileRefused('refused', (err as Error).message);
    }
    const ok =
      typeof f.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(f.sha256) &&
      Number.isSafeInteger(f.size) &&
      Array.isArray(f.chunks) &&
      f.chunks.every(
        (c) =>
          Array.isArray(c) &&
          /^[0-9a-f]{64}$/.test(String(c[0])) &&
          Number.isSafeInteger(c[1]) &&
          c[1] > 0 &&
          c[1] <= MAX_CHUNK,
      );
    if (!ok) throw new PackageFileRefused('refused', `its manifest entry for '${f.path}' is malformed`);
    const sum = f.chunks.reduce((s, [, n]) => s + n, 0);
    if (sum !== f.size)
      throw new PackageFileRefused(
        'refused',
        `its manifest says '${f.path}' is ${f.size} bytes but lists ${sum} bytes of chunks`,
      );
  }
  return m as PackageFileManifest;
}
