import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listTree } from '../../test/listing.js';
import { tempDir } from '../../test/tempdirs.js';
import { waitFor } from '../demo/index.js';
import { auditHost, purgeHost } from './audit.js';
import { type FootprintItem, installLocations, recordFootprint } from './footprint.js';
import { procNetAddress } from './processes.js';

const freshRoot = () => tempDir('host');

/** What a join that crashed after its first steps leaves: a footprint naming the folder, and `items`. */
async function crashedInstall(dataDir: string, code: string, ...items: FootprintItem[]): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  await recordFootprint(dataDir, code, { kind: 'directory', path: dataDir, detail: 'data directory' });
  for (const item of items) await recordFootprint(dataDir, code, item);
}

/** What a finished install leaves: a site.json of `code` and the folders of a data directory. */
function installedSite(dataDir: string, code: string): void {
  for (const sub of ['keys', 'db', 'logs', 'content/chunks'])
    mkdirSync(join(dataDir, sub), { recursive: true });
  writeFileSync(
    join(dataDir, 'site.json'),
    JSON.stringify({ code, type: 'secondary', generation: 'g1', listen: '127.0.0.1:9', parent: null }),
  );
  writeFileSync(join(dataDir, 'db', 'site.db'), 'rows');
}

/** A process that looks like `outpost serve --data DIR` to anyone reading /proc. */
function fakeServer(args: string[], cwd?: string): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'serve', ...args], {
    stdio: 'ignore',
    cwd,
  });
  return { child, exited: new Promise((done) => child.once('exit', done)) };
}

/**
 * A process that runs from `dataDir` without naming it in its command line (given it by an
 * environment variable, say): it holds a log of the folder open and listens on a port it prints.
 */
function serverWithoutArgs(dataDir: string): { child: ChildProcess; port: Promise<number> } {
  const script = [
    "require('node:fs').openSync(process.env.SITE_DIR + '/logs/sender.log', 'a');",
    "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port));",
    'setInterval(() => {}, 1000);',
  ].join('');
  const child = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, SITE_DIR: dataDir },
  });
  const port = new Promise<number>((done) => child.stdout?.once('data', (d: Buffer) => done(Number(d))));
  return { child, port };
}

describe('host audit and purge', () => {
  it('a clean host is clean', async () => {
    const root = freshRoot();
    expect(await auditHost({ code: 'S02', root })).toEqual({
      code: 'S02',
      dataDir: installLocations(root, 'S02').dataDir,
      clean: true,
      leftovers: [],
      left: [],
    });
  });

  it('finds what a crashed install never recorded, where an install would have put it', async () => {
    const root = freshRoot();
    const places = installLocations(root, 'S02');
    await crashedInstall(places.dataDir, 'S02');
    mkdirSync(join(places.dataDir, 'db'));
    writeFileSync(join(places.dataDir, 'db', 'site.db'), 'half-written');
    mkdirSync(join(places.serviceUnit, '..'), { recursive: true });
    writeFileSync(places.serviceUnit, '[Service]\n');
    const audit = await auditHost({ code: 'S02', root });
    expect(audit.clean).toBe(false);
    expect(audit.leftovers.map((l) => [l.kind, l.path])).toEqual([
      ['directory', places.dataDir],
      ['service', places.serviceUnit],
    ]);
    expect(audit.leftovers[0].detail).toContain('never completed');
    const purged = await purgeHost({ code: 'S02', root });
    expect(purged.removed).toHaveLength(2);
    expect(purged.remaining).toEqual([]);
    expect(existsSync(places.dataDir)).toBe(false);
    expect(await auditHost({ code: 'S02', root })).toMatchObject({ clean: true });
    // Running it again finds and removes nothing.
    expect(await purgeHost({ code: 'S02', root })).toEqual({ removed: [], remaining: [], left: [] });
  });

  it('refuses, touching nothing, a foreign folder, a data directory of another code, / and --root', async () => {
    const root = freshRoot();
    const foreign = join(root, 'home', 'ann', 'thesis');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'thesis.tex'), 'years of work');
    installedSite(join(root, 'var', 'lib', 'outpost', 'P01'), 'P01');
    const before = listTree(root);
    const cases: [string, string][] = [
      [foreign, 'it has no site.json'],
      [join(root, 'var', 'lib', 'outpost', 'P01'), 'its site.json is of site P01'],
      [root, 'it is the root given by --root'],
    ];
    for (const [dataDir, why] of cases) {
      await expect(purgeHost({ code: 'S03', dataDir, root })).rejects.toThrow(why);
      await expect(auditHost({ code: 'S03', dataDir, root })).rejects.toThrow(why);
    }
    await expect(auditHost({ code: 'S03', dataDir: '/', root })).rejects.toThrow('it is the filesystem root');
    await expect(auditHost({ code: 'S03', dataDir: '/home', root })).rejects.toThrow('top-level folder');
    expect(listTree(root)).toEqual(before);
  });

  it('removes what the install created and leaves, and lists, the files it did not', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'srv', 'S03');
    installedSite(dataDir, 'S03');
    await recordFootprint(dataDir, 'S03', {
      kind: 'file',
      path: join(dataDir, 'spool.bin'),
      detail: 'spool',
    });
    writeFileSync(join(dataDir, 'spool.bin'), 'x');
    writeFileSync(join(dataDir, 'notes.txt'), 'mine');
    mkdirSync(join(dataDir, 'backup'));
    writeFileSync(join(dataDir, 'backup', 'old.db'), 'mine too');
    const audit = await auditHost({ code: 'S03', dataDir, root });
    expect(audit.left).toEqual([join(dataDir, 'backup'), join(dataDir, 'notes.txt')]);
    expect(audit.leftovers[0].detail).toContain('2 files Outpost did not create stay in it');

    const purged = await purgeHost({ code: 'S03', dataDir, root });
    expect(purged.left).toEqual([join(dataDir, 'backup'), join(dataDir, 'notes.txt')]);
    expect(purged.remaining.map((l) => [l.kind, l.path])).toEqual([['directory', dataDir]]);
    expect(purged.removed.map((l) => l.path)).toContain(join(dataDir, 'spool.bin'));
    expect(listTree(dataDir)).toEqual(['backup/', 'backup/old.db = mine too', 'notes.txt = mine']);
  });

  it('removes symlinks in the data directory, never what they point at', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'srv', 'S03');
    installedSite(dataDir, 'S03');
    const outside = join(root, 'precious');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep.txt'), 'keep');
    symlinkSync(outside, join(dataDir, 'content', 'chunks', 'ab'));
    symlinkSync(outside, join(dataDir, 'logs', 'old'));
    await recordFootprint(dataDir, 'S03', {
      kind: 'directory',
      path: join(dataDir, 'spool'),
      detail: 'spool',
    });
    symlinkSync(outside, join(dataDir, 'spool'));
    const purged = await purgeHost({ code: 'S03', dataDir, root });
    expect(purged.remaining).toEqual([]);
    expect(existsSync(dataDir)).toBe(false);
    expect(listTree(outside)).toEqual(['keep.txt = keep']);
  });

  it('stops only servers whose data directory is the install, however their --data was written', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'elsewhere', 'S07');
    const otherDir = join(root, 'elsewhere', 'P01');
    await crashedInstall(dataDir, 'S07');
    installedSite(otherDir, 'P01');
    symlinkSync(dataDir, join(root, 'S07-link'));
    const ours = [
      fakeServer(['--data', dataDir]),
      // Relative to its own working directory, not to the one purge runs in.
      fakeServer(['--data=S07'], join(root, 'elsewhere')),
      fakeServer(['--data', join(root, 'S07-link')]),
    ];
    // As deep as purge's own working directory, so the `..`s below stop short of the top.
    const deep = join(
      root,
      ...process
        .cwd()
        .split('/')
        .filter(Boolean)
        .map(() => 'd'),
    );
    mkdirSync(deep, { recursive: true });
    const others = [
      fakeServer(['--data', otherDir]),
      // Would be taken for S07 if --data were read relative to purge's own working directory.
      fakeServer(['--data', relative(process.cwd(), dataDir)], deep),
    ];
    try {
      // Until a child has exec'd, /proc shows the test runner's command line under its pid.
      const audit = await waitFor('the fake servers in /proc', 10_000, async () => {
        const found = await auditHost({ code: 'S07', dataDir, root });
        return found.leftovers.filter((l) => l.kind === 'process').length === ours.length && found;
      });
      expect(
        audit.leftovers
          .filter((l) => l.kind === 'process')
          .map((l) => l.pid)
          .sort(),
      ).toEqual(ours.map((s) => s.child.pid).sort());
      const purged = await purgeHost({ code: 'S07', dataDir, root });
      expect(purged.remaining).toEqual([]);
      expect(existsSync(dataDir)).toBe(false);
      // purgeHost returns once the pids are gone; the exit events follow.
      await Promise.all(ours.map((s) => s.exited));
      for (const s of others) expect(s.child.exitCode === null && s.child.signalCode === null).toBe(true);
      expect(existsSync(join(otherDir, 'site.json'))).toBe(true);
    } finally {
      for (const s of [...ours, ...others]) s.child.kill('SIGKILL');
    }
  });

  it('reports a registration the parent still holds, which only the parent can remove', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'S08');
    await crashedInstall(dataDir, 'S08', {
      kind: 'registration',
      name: 'http://127.0.0.1:9',
      detail: 'registration',
    });
    const audit = await auditHost({ code: 'S08', dataDir, root });
    const registration = audit.leftovers.find((l) => l.kind === 'registration');
    expect(registration?.detail).toContain('cannot ask the parent');
    const purged = await purgeHost({ code: 'S08', dataDir, root });
    expect(purged.remaining.map((l) => l.kind)).toEqual(['registration']);
  });

  it('leaves a database it could not check, and says so; ignores a schema of another code', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'S09');
    const name = 'postgres://outpost@127.0.0.1:9/outpost#outpost_s09_0123abcd';
    await crashedInstall(
      dataDir,
      'S09',
      { kind: 'database', name, detail: 'schema' },
      { kind: 'database', name: name.replace('s09', 'c01'), detail: 'schema' },
    );
    const audit = await auditHost({ code: 'S09', dataDir, root });
    expect(audit.leftovers.filter((l) => l.kind === 'database')).toEqual([
      expect.objectContaining({ name, checked: false }),
    ]);
    const purged = await purgeHost({ code: 'S09', dataDir, root });
    expect(purged.remaining).toEqual([expect.objectContaining({ kind: 'database', checked: false })]);
  });

  it('finds a server of the code running from another folder, however it got it; purge leaves it', async () => {
    const root = freshRoot();
    const elsewhere = join(root, 'srv', 'site-b');
    const otherCode = join(root, 'srv', 'site-c');
    installedSite(elsewhere, 'S05');
    installedSite(otherCode, 'S06');
    const ours = serverWithoutArgs(elsewhere);
    const byArgument = fakeServer(['--data', elsewhere]);
    const other = serverWithoutArgs(otherCode);
    try {
      const port = await ours.port;
      await other.port;
      const audit = await waitFor('the servers of S05 in /proc', 10_000, async () => {
        const found = await auditHost({ code: 'S05', root });
        return found.leftovers.length === 2 && found;
      });
      expect(audit.clean).toBe(false);
      const byPid = (pid?: number) => audit.leftovers.find((l) => l.pid === pid);
      expect(byPid(ours.child.pid)).toMatchObject({
        kind: 'process',
        dataDir: elsewhere,
        listen: [`127.0.0.1:${port}`],
      });
      expect(byPid(byArgument.child.pid)).toMatchObject({ kind: 'process', dataDir: elsewhere });
      expect(audit.leftovers[0].detail).toContain(`audit or purge it with --data ${elsewhere}`);
      // Not this install's (the default folder): purge stops neither, and says so.
      const purged = await purgeHost({ code: 'S05', root });
      expect(purged.removed).toEqual([]);
      expect(purged.remaining.map((l) => l.pid).sort()).toEqual(
        [ours.child.pid, byArgument.child.pid].sort(),
      );
      expect(ours.child.exitCode === null && byArgument.child.exitCode === null).toBe(true);
      // Given its folder, purge stops both: they run from it.
      const own = await purgeHost({ code: 'S05', dataDir: elsewhere, root });
      expect(
        own.removed
          .filter((l) => l.kind === 'process')
          .map((l) => l.pid)
          .sort(),
      ).toEqual([ours.child.pid, byArgument.child.pid].sort());
      expect(other.child.exitCode === null && other.child.signalCode === null).toBe(true);
      expect(await auditHost({ code: 'S05', root })).toMatchObject({ clean: true });
    } finally {
      for (const s of [ours, byArgument, other]) s.child.kill('SIGKILL');
    }
  });

  it('reads listen addresses as /proc/net/tcp and tcp6 write them', () => {
    expect(procNetAddress('0100007F:1F90')).toBe('127.0.0.1:8080');
    expect(procNetAddress('00000000000000000000000001000000:0050')).toBe('[::1]:80');
    expect(procNetAddress('0000000000000000FFFF00000100007F:0050')).toBe('[::ffff:7f00:1]:80');
    expect(procNetAddress('nonsense')).toBeNull();
  });
});
