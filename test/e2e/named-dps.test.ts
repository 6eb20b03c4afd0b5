import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { CloneResult, NotInstalled } from '../../src/replication/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import { cli, metric, tempDir, waitForPackageState } from './helpers.js';

/**
 * Named DPs end to end with real servers: S02/lab is added at S02, becomes known at C01, gets a
 * package that is served from its own URL with Range; unassigned, cloned from S02's default DP
 * (sending no content S02 already holds), removed; and the follow-up report of what is not Installed.
 */
describe('named DPs, dp clone and the follow-up report', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-named-dps');
  let n = 0;
  const files = new Map<string, Buffer>();

  async function newPackage(): Promise<PackageView> {
    const source = join(base, `src-${++n}`);
    mkdirSync(source);
    const data = randomBytes(300 * 1024 + n);
    writeFileSync(join(source, 'payload.bin'), data);
    const pkg = await h.sites.C01.admin.post<PackageView>('/packages', { name: `P${n}`, source });
    files.set(pkg.id, data);
    return pkg;
  }
  const atC01 = (...args: string[]) => cli([...args, '--data', h.sites.C01.dataDir]);
  const atS02 = (...args: string[]) => cli([...args, '--data', h.sites.S02.dataDir]);
  const dpsAtC01 = async () => (await h.sites.C01.admin.get<{ dp: string }[]>('/dps')).map((d) => d.dp);
  const statusAtC01 = async (dp: string) =>
    (await h.sites.C01.admin.get<PackageStatus[]>('/status/packages')).filter((r) => r.dp === dp);

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('adds S02/lab at S02; C01 learns of it; a package assigned to it is Installed and served with Range', async () => {
    const { C01, S02 } = h.sites;
    const added = await atS02('dp', 'add', '--site', 'S02', '--name', 'lab', '--json');
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toEqual({ dp: 'S02/lab', site: 'S02', url: `${S02.url}/dps/lab/` });
    await waitFor('C01 knows S02/lab', 30_000, async () => (await dpsAtC01()).includes('S02/lab'));

    const pkg = await newPackage();
    const assigned = await atC01('dp', 'assign', pkg.id, '--dp', 'S02/lab');
    expect(assigned.code, assigned.stderr).toBe(0);
    expect(assigned.stdout).toContain('assigned: S02/lab');
    await waitForPackageState(C01, pkg.id, 'S02/lab', 'Installed');
    expect(await metric(C01.url, 'outpost_dp_packages', { dp: 'S02/lab', state: 'Installed' })).toBe(1);
    // Only the named DP has it: the default DP was never assigned the package.
    const atS02Status = await S02.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
    expect(atS02Status.map((r) => [r.dp, r.state])).toEqual([['S02/lab', 'Installed']]);
    expect((await fetch(`${S02.url}/dp/${pkg.id}/payload.bin`)).status).toBe(404);

    const res = await fetch(`${S02.url}/dps/lab/${pkg.id}/payload.bin`, {
      headers: { range: 'bytes=100-4195' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-4195/${files.get(pkg.id)?.length}`);
    expect(
      Buffer.from(await res.arrayBuffer()).equals(files.get(pkg.id)?.subarray(100, 4196) ?? Buffer.alloc(0)),
    ).toBe(true);
    const listed = await atC01('dp', 'list', '--json');
    const lab = (JSON.parse(listed.stdout) as { dp: string; url: string; installed: number }[]).find(
      (d) => d.dp === 'S02/lab',
    );
    expect(lab).toMatchObject({ url: `${S02.url}/dps/lab/`, installed: 1 });

    // Unassigned: gone from the named DP, and its status row goes at C01.
    const un = await atC01('dp', 'unassign', pkg.id, '--dp', 'S02/lab', '--yes');
    expect(un.code, un.stderr).toBe(0);
    await waitFor(
      'S02/lab no longer holds it at C01',
      60_000,
      async () => (await statusAtC01('S02/lab')).length === 0,
    );
    expect((await fetch(`${S02.url}/dps/lab/${pkg.id}/payload.bin`)).status).toBe(404);
  }, 180_000);

  it('dp clone --dry-run says what it would add and changes nothing; the clone sends no content S02 holds', async () => {
    const { C01, S02 } = h.sites;
    const a = await newPackage();
    const b = await newPackage();
    for (const p of [a, b]) expect((await atC01('dp', 'assign', p.id, '--dp', 'S02')).code).toBe(0);
    for (const p of [a, b]) await waitForPackageState(C01, p.id, 'S02', 'Installed');

    const dry = await atC01('dp', 'clone', '--from', 'S02', '--to', 'S02/lab', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const wouldAdd = JSON.parse(dry.stdout) as CloneResult;
    expect(wouldAdd).toMatchObject({ dryRun: true, from: 'S02', to: 'S02/lab', bytesMissing: 0 });
    expect(wouldAdd.added).toEqual([a.id, b.id].sort());
    expect(await statusAtC01('S02/lab')).toEqual([]);
    const human = await atC01('dp', 'clone', '--from', 'S02', '--to', 'S02/lab', '--dry-run');
    expect(human.stdout).toContain('would assign 2 packages of S02 to S02/lab');

    const received = await metric(S02.url, 'outpost_despooler_bytes_total');
    const done = await atC01('dp', 'clone', '--from', 'S02', '--to', 'S02/lab');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('assigned 2 packages of S02 to S02/lab');
    for (const p of [a, b]) await waitForPackageState(C01, p.id, 'S02/lab', 'Installed');
    expect(await metric(S02.url, 'outpost_despooler_bytes_total')).toBe(received);
    const res = await fetch(`${S02.url}/dps/lab/${b.id}/payload.bin`, { headers: { range: 'bytes=0-9' } });
    expect(res.status).toBe(206);
    expect(
      Buffer.from(await res.arrayBuffer()).equals(files.get(b.id)?.subarray(0, 10) ?? Buffer.alloc(0)),
    ).toBe(true);
  }, 180_000);

  it('bad DP inputs are refused with exit 2 and one line, changing nothing', async () => {
    const cases: [string[], string][] = [
      [
        ['dp', 'assign', 'C0100001', '--dp', 'S02/nope', '--data', h.sites.C01.dataDir],
        'DP S02/nope is not known at C01',
      ],
      [
        ['dp', 'assign', 'C0100001', '--dp', 'S02/bad!', '--data', h.sites.C01.dataDir],
        "DP 'S02/bad!' is not valid",
      ],
      [
        ['dp', 'clone', '--from', 'S02', '--to', 'S02/nope', '--data', h.sites.C01.dataDir],
        'DP S02/nope is not known',
      ],
      [
        ['dp', 'clone', '--from', 'S0', '--to', 'S02/lab', '--data', h.sites.C01.dataDir],
        "DP 'S0' is not valid",
      ],
      [
        ['dp', 'add', '--site', 'S02', '--name', 'has space', '--data', h.sites.S02.dataDir],
        "DP name 'has space' is not valid",
      ],
      [
        ['dp', 'add', '--site', 'S02', '--name', 'lab', '--data', h.sites.S02.dataDir],
        'DP S02/lab already exists',
      ],
      [
        ['dp', 'add', '--site', 'S02', '--name', 'east', '--data', h.sites.C01.dataDir],
        'must be sent to S02 itself',
      ],
      [['dp', 'remove', 'S02/nope', '--yes', '--data', h.sites.S02.dataDir], 'DP S02/nope does not exist'],
      [['dp', 'remove', 'S02', '--yes', '--data', h.sites.S02.dataDir], 'default DP and cannot be removed'],
      [
        ['dp', 'remove', 'S02/lab', '--yes', '--data', h.sites.S02.dataDir],
        'DP S02/lab has 2 assigned packages',
      ],
    ];
    for (const [args, reason] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(reason);
      expect(r.stderr.trim().split('\n')[0]).toContain(reason);
    }
    expect((await dpsAtC01()).filter((d) => d.startsWith('S02'))).toEqual(['S02', 'S02/lab']);
  });

  it('dp remove --force drops the DP, its assignments and status, up to C01', async () => {
    const removed = await atS02('dp', 'remove', 'S02/lab', '--force', '--yes', '--json');
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ dp: 'S02/lab', assignments: 2 });
    await waitFor('C01 forgot S02/lab', 30_000, async () => !(await dpsAtC01()).includes('S02/lab'));
    expect(await statusAtC01('S02/lab')).toEqual([]);
    const assignments = await h.sites.C01.admin.get<{ dp: string }[]>('/dps', { site: 'S02' });
    expect(assignments.map((d) => d.dp)).toEqual(['S02']);
  });

  it('status packages --not-installed lists a failed package with its reason and last error', async () => {
    const { C01, S02 } = h.sites;
    await C01.admin.put('/addresses/S02', { retries: 1, retryDelay: '300ms' });
    await S02.process.stop();
    const pkg = await newPackage();
    expect((await atC01('dp', 'assign', pkg.id, '--dp', 'S02')).code).toBe(0);
    await waitForPackageState(C01, pkg.id, 'S02', 'Install Failed');
    const r = await atC01('status', 'packages', '--site', 'S02', '--not-installed', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as NotInstalled[];
    expect(rows.map((x) => x.package)).toEqual([pkg.id]);
    expect(rows[0]).toMatchObject({ dp: 'S02', state: 'Install Failed', site: 'S02' });
    expect(rows[0].reason).toMatch(/^job to S02 failed after \d+ attempts?; dp redistribute sends it again$/);
    expect(rows[0].lastError).toBeTruthy();
    expect(rows[0].job).toBeTruthy();
    const human = await atC01('status', 'packages', '--not-installed');
    expect(human.stdout).toContain('failed after');
  }, 120_000);
});
