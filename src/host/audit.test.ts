import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { waitFor } from '../demo/index.js';
import { auditHost, purgeHost } from './audit.js';
import { installLocations, recordFootprint } from './footprint.js';

const freshRoot = () => tempDir('host');

describe('host audit and purge', () => {
  it('a clean host is clean', async () => {
    expect(await auditHost({ code: 'S02', root: freshRoot() })).toEqual({
      code: 'S02',
      clean: true,
      leftovers: [],
    });
  });

  it('finds what a crashed install never recorded, where an install would have put it', async () => {
    const root = freshRoot();
    const places = installLocations(root, 'S02');
    mkdirSync(places.dataDir, { recursive: true });
    writeFileSync(join(places.dataDir, 'half-written'), 'x');
    mkdirSync(join(places.serviceUnit, '..'), { recursive: true });
    writeFileSync(places.serviceUnit, '[Service]\n');
    const audit = await auditHost({ code: 'S02', root });
    expect(audit.clean).toBe(false);
    expect(audit.leftovers.map((l) => [l.kind, l.path])).toEqual([
      ['directory', places.dataDir],
      ['service', places.serviceUnit],
    ]);
    expect(audit.leftovers[0].detail).toContain('no site in it');
    const purged = await purgeHost({ code: 'S02', root });
    expect(purged.removed).toHaveLength(2);
    expect(purged.remaining).toEqual([]);
    expect(await auditHost({ code: 'S02', root })).toMatchObject({ clean: true });
    // Running it again finds and removes nothing.
    expect(await purgeHost({ code: 'S02', root })).toEqual({ removed: [], remaining: [] });
  });

  it('finds a server process still running from the data directory and stops it', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'elsewhere', 'S07');
    mkdirSync(dataDir, { recursive: true });
    await recordFootprint(dataDir, 'S07', { kind: 'directory', path: dataDir, detail: 'data directory' });
    // Looks like `outpost serve --data DIR` to anyone reading /proc.
    const fake = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'serve', '--data', dataDir], {
      stdio: 'ignore',
    });
    const exited = new Promise((done) => fake.once('exit', done));
    try {
      // Until the child has exec'd, /proc shows the test runner's command line under its pid.
      const audit = await waitFor('the fake server in /proc', 10_000, async () => {
        const found = await auditHost({ code: 'S07', dataDir, root });
        return found.leftovers.some((l) => l.kind === 'process') && found;
      });
      expect(audit.leftovers.map((l) => l.kind).sort()).toEqual(['directory', 'process']);
      expect(audit.leftovers.find((l) => l.kind === 'process')).toMatchObject({
        name: `pid ${fake.pid}`,
        pid: fake.pid,
      });
      expect(audit.leftovers.find((l) => l.kind === 'directory')?.detail).toContain('never completed');
      const purged = await purgeHost({ code: 'S07', dataDir, root });
      expect(purged.remaining).toEqual([]);
      expect(existsSync(dataDir)).toBe(false);
      // purgeHost returns once the pid is gone; the exit event follows.
      await exited;
    } finally {
      fake.kill('SIGKILL');
    }
  });

  it('reports a registration the parent still holds, which only the parent can remove', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'S08');
    mkdirSync(dataDir);
    await recordFootprint(dataDir, 'S08', {
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

  it('leaves a database it could not check, and says so', async () => {
    const root = freshRoot();
    const dataDir = join(root, 'S09');
    mkdirSync(dataDir);
    const name = 'postgres://outpost@127.0.0.1:9/outpost#outpost_s09_0123abcd';
    await recordFootprint(dataDir, 'S09', { kind: 'database', name, detail: 'schema' });
    const audit = await auditHost({ code: 'S09', dataDir, root });
    expect(audit.leftovers.find((l) => l.kind === 'database')).toMatchObject({ name, checked: false });
    const purged = await purgeHost({ code: 'S09', dataDir, root });
    expect(purged.remaining).toEqual([expect.objectContaining({ kind: 'database', checked: false })]);
  });
});
