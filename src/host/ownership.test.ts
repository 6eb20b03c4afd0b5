import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { recordFootprint } from './footprint.js';
import { proveDataDir } from './ownership.js';

/** A folder with a site.json of `code`, as init or join leave it. */
function siteDir(dir: string, code: string): string {
  for (const sub of ['keys', 'db', 'logs', 'content/chunks']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'site.json'), JSON.stringify({ code, type: 'secondary', generation: 'g' }));
  writeFileSync(join(dir, 'admin.token'), 'token\n');
  return dir;
}

/** Proving `dir` a data directory of S03 must fail with OUTPOST_NOT_OWNED and `why`. */
const expectRefused = (dir: string, why: string, root = '/') =>
  expect(proveDataDir(dir, 'S03', root)).rejects.toEqual(
    expect.objectContaining({ code: 'OUTPOST_NOT_OWNED', message: expect.stringContaining(why) }),
  );

describe('proof that a folder is a data directory of a site code', () => {
  const savedHome = process.env.HOME;
  afterEach(() => {
    process.env.HOME = savedHome;
  });

  it('a data directory of the code: everything the install made is owned, nothing foreign', async () => {
    const dir = siteDir(join(tempDir('own'), 'S03'), 'S03');
    const proof = await proveDataDir(dir, 'S03', '/');
    expect(proof?.config?.code).toBe('S03');
    expect(proof?.owned).toEqual(
      ['admin.token', 'content', 'db', 'keys', 'logs', 'site.json'].map((n) => join(dir, n)),
    );
    expect(proof?.foreign).toEqual([]);
  });

  it('nothing to prove where there is no folder or an empty one', async () => {
    const base = tempDir('own');
    expect(await proveDataDir(join(base, 'missing'), 'S03', '/')).toBeNull();
    mkdirSync(join(base, 'empty'));
    expect(await proveDataDir(join(base, 'empty'), 'S03', '/')).toBeNull();
  });

  it('refuses a folder with no site.json', async () => {
    const dir = tempDir('own');
    writeFileSync(join(dir, 'thesis.tex'), 'years of work');
    await expectRefused(dir, `'${dir}' is not a data directory of S03: it has no site.json`);
  });

  it('refuses a data directory of another code, by its site.json or its footprint', async () => {
    const base = tempDir('own');
    const other = siteDir(join(base, 'P01'), 'P01');
    await expectRefused(other, 'its site.json is of site P01');
    const crashed = join(base, 'X09');
    mkdirSync(crashed);
    await recordFootprint(crashed, 'X09', { kind: 'directory', path: crashed, detail: 'data directory' });
    await expectRefused(crashed, 'its footprint.json is of site X09');
  });

  it('refuses a site.json that cannot be read or is not a regular file', async () => {
    const base = tempDir('own');
    const garbled = join(base, 'garbled');
    mkdirSync(garbled);
    writeFileSync(join(garbled, 'site.json'), '{"code":');
    await expectRefused(garbled, 'its site.json cannot be read');
    const linked = join(base, 'linked');
    mkdirSync(linked);
    symlinkSync(join(siteDir(join(base, 'real'), 'S03'), 'site.json'), join(linked, 'site.json'));
    await expectRefused(linked, 'its site.json is not a regular file');
  });

  it('refuses the filesystem root, a top-level folder, the --root folder, what holds it and a home folder', async () => {
    const base = tempDir('own');
    const root = join(base, 'host-root');
    mkdirSync(root);
    await expectRefused('/', 'it is the filesystem root');
    await expectRefused('/home', 'it is a top-level folder');
    await expectRefused(root, 'it is the root given by --root', root);
    await expectRefused(base, 'it holds the root given by --root', root);
    // Whatever the folder holds: a site.json of the code does not make them data directories.
    siteDir(root, 'S03');
    await expectRefused(root, 'it is the root given by --root', root);
    process.env.HOME = join(base, 'users', 'ann');
    siteDir(process.env.HOME, 'S03');
    await expectRefused(process.env.HOME, 'home folder');
    await expectRefused(join(base, 'users'), 'home folder');
  });

  it('follows a symlinked folder to what it points at, and judges that', async () => {
    const base = tempDir('own');
    symlinkSync('/home', join(base, 'to-home'));
    await expectRefused(join(base, 'to-home'), 'it is a top-level folder');
    const other = siteDir(join(base, 'P01'), 'P01');
    symlinkSync(other, join(base, 'S03'));
    await expectRefused(join(base, 'S03'), 'its site.json is of site P01');
    const real = siteDir(join(base, 'disk2', 'S03'), 'S03');
    symlinkSync(real, join(base, 'S03-link'));
    expect((await proveDataDir(join(base, 'S03-link'), 'S03', '/'))?.real).toBe(real);
  });

  it('a crashed install is proved by a footprint that names the code and lists this folder', async () => {
    const base = tempDir('own');
    const dir = join(base, 'S03');
    mkdirSync(join(dir, 'keys'), { recursive: true });
    await recordFootprint(dir, 'S03', { kind: 'directory', path: dir, detail: 'data directory' });
    await recordFootprint(dir, 'S03', { kind: 'file', path: join(dir, 'spool.bin'), detail: 'spool' });
    writeFileSync(join(dir, 'spool.bin'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    writeFileSync(join(dir, '.0123456789ab.tmp'), 'half of a site.json');
    const proof = await proveDataDir(dir, 'S03', '/');
    expect(proof?.config).toBeNull();
    expect(proof?.owned).toEqual(
      ['.0123456789ab.tmp', 'footprint.json', 'keys', 'spool.bin'].map((n) => join(dir, n)),
    );
    expect(proof?.foreign).toEqual([join(dir, 'notes.txt')]);

    // The same footprint copied into another folder proves nothing there.
    const copy = join(base, 'copy');
    mkdirSync(copy);
    await recordFootprint(copy, 'S03', { kind: 'directory', path: dir, detail: 'data directory' });
    await expectRefused(copy, 'its footprint.json is of another folder');
  });
});
