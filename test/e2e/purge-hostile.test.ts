import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type Hierarchy,
  type SiteProcess,
  spawnSite,
  startHierarchy,
  TWO_LEVELS,
  waitFor,
} from '../../src/demo/index.js';
import { listTree } from '../listing.js';
import { cli, tempDir } from './helpers.js';

/** What a running server writes to while the test looks: left out of the before/after listings. */
const volatile = (rel: string) => /(^|\/)(db|logs|content)\/./.test(rel);

async function alive(site: SiteProcess): Promise<boolean> {
  const { exitCode, signalCode } = site.child;
  return exitCode === null && signalCode === null && (await fetch(`${site.url}/healthz`)).ok;
}

/**
 * `host audit` and `host purge` given what is not an install of the code: each refused with exit 2
 * and a one-line reason, nothing on disk changed, every server still running. And a real install:
 * only its own server stopped, the files it did not create left and listed.
 */
describe('host purge given hostile input', () => {
  const base = tempDir('e2e-purge');
  const foreign = join(base, 'home-of-ann');
  const x09Dir = join(base, 'sites', 'X09');
  let h: Hierarchy;
  let x09: SiteProcess;

  beforeAll(async () => {
    h = await startHierarchy(join(base, 'sites'), TWO_LEVELS);
    mkdirSync(join(foreign, 'thesis'), { recursive: true });
    writeFileSync(join(foreign, 'thesis', 'thesis.tex'), 'years of work');
    writeFileSync(join(foreign, 'site.db'), 'not a site database');
    const port = await freePort();
    const init = await cli(['init', '--code', 'X09', '--data', x09Dir, '--listen', `127.0.0.1:${port}`]);
    expect(init.code, init.stderr).toBe(0);
    x09 = await spawnSite(x09Dir, `http://127.0.0.1:${port}`);
  });

  afterAll(async () => {
    await x09?.stop();
    await h?.stop();
  });

  const servers = () => [h.sites.C01.process, h.sites.S02.process, x09];

  /** Runs audit and purge with `args`; both must be refused with `reason`, changing nothing. */
  async function expectRefused(args: string[], reason: string): Promise<void> {
    const before = listTree(base, volatile);
    for (const command of [
      ['host', 'audit', ...args],
      ['host', 'purge', ...args, '--yes'],
    ]) {
      const r = await cli(command);
      expect(r.code, `${command.join(' ')}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(reason);
    }
    expect(listTree(base, volatile)).toEqual(before);
    for (const server of servers()) expect(await alive(server)).toBe(true);
  }

  it('a folder that was never a data directory', async () => {
    await expectRefused(
      ['--code', 'S03', '--data', foreign],
      `'${foreign}' is not a data directory of S03: it has no site.json`,
    );
  });

  it("another code's data directory, with its server running", async () => {
    const c01 = h.sites.C01.dataDir;
    await expectRefused(['--code', 'S03', '--data', c01], 'its site.json is of site C01');
    // A code that has a server of its own on this host: neither server is touched.
    await expectRefused(['--code', 'S02', '--data', c01], 'its site.json is of site C01');
  });

  it('the root given by --root, holding every data directory', async () => {
    await expectRefused(['--code', 'S03', '--root', base, '--data', base], 'it is the root given by --root');
    await expectRefused(
      ['--code', 'S03', '--root', join(base, 'sites', 'C01'), '--data', join(base, 'sites')],
      'it holds the root given by --root',
    );
  });

  it('a real install: only its server stops, and the files Outpost did not create stay, listed', async () => {
    writeFileSync(join(x09Dir, 'notes.txt'), 'the admin wrote this');
    const others = listTree(join(base, 'sites'), (rel) => rel.startsWith('X09') || volatile(rel));
    const r = await cli(['host', 'purge', '--code', 'X09', '--data', x09Dir, '--yes']);
    // The folder stays, so not everything is gone: exit 1.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(`removed process pid ${x09.child.pid}`);
    expect(r.stdout).toContain(`left 1 file Outpost did not create: ${join(x09Dir, 'notes.txt')}`);
    await waitFor('the X09 server to exit', 10_000, async () => !(await alive(x09).catch(() => false)));
    expect(readdirSync(x09Dir)).toEqual(['notes.txt']);
    expect(listTree(join(base, 'sites'), (rel) => rel.startsWith('X09') || volatile(rel))).toEqual(others);
    for (const server of [h.sites.C01.process, h.sites.S02.process]) expect(await alive(server)).toBe(true);
  });
});
