import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Hierarchy, startHierarchy, TWO_LEVELS } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { initCentral } from '../../src/sites/index.js';
import { cli, tempDir, waitForPackageState } from './helpers.js';

/** The lines a command wrote to stderr that are its own (not Node's deprecation warnings). */
const said = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('outpost:'));

describe('the command line: output formats, help, and the mistakes it explains', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-cli');
  let pkg: PackageView;
  let data: string[];

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    const source = join(base, 'src');
    mkdirSync(source);
    writeFileSync(join(source, 'setup.bin'), 'payload');
    pkg = await h.sites.C01.admin.post<PackageView>('/packages', { name: 'App', source });
    await h.sites.C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(h.sites.C01, pkg.id, 'S02', 'Installed');
    data = ['--data', h.sites.C01.dataDir];
  });

  afterAll(async () => {
    await h?.stop();
  });

  // One case per command: each spawns the CLI twice, and spawns are slow on a busy machine.
  it.each([
    ['package', 'list'],
    ['package', 'show'],
    ['address', 'list'],
    ['job', 'list'],
  ])('-o json prints exactly what --json prints: %s %s', async (...args) => {
    const command = args[1] === 'show' ? [...args, pkg.id] : args;
    const json = await cli([...command, '--json', ...data]);
    const o = await cli([...command, '-o', 'json', ...data]);
    expect(json.code).toBe(0);
    expect(o.code).toBe(0);
    expect(o.stdout).toBe(json.stdout);
  });

  it('-o name prints one identifier per line: package ids, site codes', async () => {
    const packages = await cli(['package', 'list', '-o', 'name', ...data]);
    expect(packages).toMatchObject({ code: 0, stdout: `${pkg.id}\n` });
    const sites = await cli(['site', 'list', '-o', 'name', ...data]);
    expect(sites.stdout.split('\n').filter(Boolean).sort()).toEqual(['C01', 'S02']);
  });

  it('-o name prints the full job ids, where the table shows their first 8 characters', async () => {
    const jobs = JSON.parse((await cli(['job', 'list', '--json', ...data])).stdout) as JobView[];
    const names = await cli(['job', 'list', '-o', 'name', ...data]);
    expect(names.stdout).toBe(jobs.map((j) => `${j.id}\n`).join(''));
    expect(jobs.length).toBeGreaterThan(0);
  });

  it('prints plain columns when stdout is not a terminal; -o wide adds the hidden ones', async () => {
    const plain = await cli(['site', 'list', ...data]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^code +type +parent +state +last contact +error\n/);
    expect(plain.stdout).not.toMatch(/[─│┌├└]/);
    expect(plain.stdout).not.toContain(h.sites.S02.url);
    const wide = await cli(['site', 'list', '-o', 'wide', ...data]);
    expect(wide.stdout).toMatch(/^code +type +parent +state +last contact +url +error\n/);
    expect(wide.stdout).toContain(h.sites.S02.url);
  });

  it('--severity keeps that severity and worse; an unknown one is refused in one line, exit 2', async () => {
    const warnings = await cli(['status', 'messages', '--severity', 'warning', '--json', ...data]);
    expect(warnings.code).toBe(0);
    const kept = JSON.parse(warnings.stdout) as { id: string; severity: string }[];
    const all = JSON.parse((await cli(['status', 'messages', '--json', ...data])).stdout) as typeof kept;
    expect(all.some((m) => m.severity === 'info')).toBe(true);
    // Messages posted between the two calls come last; those before are the same.
    expect(kept).toEqual(all.filter((m) => m.severity !== 'info').slice(0, kept.length));
    const bad = await cli(['status', 'messages', '--severity', 'loud', ...data]);
    expect(bad.code).toBe(2);
    expect(said(bad.stderr)).toEqual([
      "outpost: option '--severity <level>' argument 'loud' is invalid. Allowed choices are info, warning, error.",
    ]);
  });

  it('--server without a scheme: one line with the URL it probably meant, exit 2', async () => {
    const r = await cli(['site', 'list', '--server', '127.0.0.1:8480', '--token', 'x']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(said(r.stderr)).toEqual([
      "outpost: --server '127.0.0.1:8480' has no scheme (did you mean http://127.0.0.1:8480?)",
    ]);
  });

  it.each(['', 'site', 'status'])(
    'a command group without a subcommand prints its help and exits 2: outpost %s',
    async (group) => {
      const r = await cli(group ? [group] : []);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('Usage: outpost');
      expect(r.stderr).toContain('Examples:');
    },
  );

  it('asked for, the help is no error', async () => {
    expect((await cli(['site', '--help'])).code).toBe(0);
  });

  it('serve on a port another site listens on names that site and exits non-zero', async () => {
    const dataDir = join(base, 'C09');
    const listen = new URL(h.sites.C01.url).host;
    await initCentral({ dataDir, code: 'C09', listen });
    const r = await cli(['serve', '--data', dataDir]);
    expect(r.code).toBe(2);
    expect(said(r.stderr)).toEqual([
      `outpost: cannot listen on ${listen}: site C01 already listens there (stop it, or pass --listen HOST:PORT)`,
    ]);
    // C01 itself, started twice.
    const again = await cli(['serve', '--data', h.sites.C01.dataDir]);
    expect(again.code).toBe(2);
    expect(said(again.stderr).join('\n')).toContain('site C01 is already running there');
  });

  it('serve on a port some other program holds says it is not a site server', async () => {
    const port = await freePort();
    const server: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      const dataDir = join(base, 'C08');
      await initCentral({ dataDir, code: 'C08', listen: `127.0.0.1:${port}` });
      const r = await cli(['serve', '--data', dataDir]);
      expect(r.code).toBe(2);
      expect(said(r.stderr).join('\n')).toContain(
        'another program (not an Outpost site server) listens there',
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
