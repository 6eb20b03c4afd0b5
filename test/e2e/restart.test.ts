import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, spawnSite, startHierarchy, waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { sha256, tempDir, waitForPackageState } from './helpers.js';

const SIZE = 64 * 1024 * 1024;
// Far longer than the test may take: only taking the dead process's lease back lets it finish.
const SERVE = ['--heartbeat', '1s', '--lease', '10m'];

describe('restart of a parent mid-transfer', () => {
  const base = tempDir('e2e-restart');
  let h: Hierarchy;

  beforeAll(async () => {
    h = await startHierarchy(
      base,
      [
        { code: 'C01', type: 'central' },
        { code: 'S02', type: 'secondary', parent: 'C01' },
      ],
      SERVE,
    );
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('kill -9 of the sender and an immediate restart: the transfer resumes without waiting out the lease', async () => {
    const { C01, S02 } = h.sites;
    const source = join(base, 'big');
    mkdirSync(source);
    const data = randomBytes(SIZE);
    writeFileSync(join(source, 'big.bin'), data);
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Big', source });
    await C01.admin.put('/addresses/S02', { rateLimitKbps: 8 * 1024 });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitFor(
      'a quarter of the package on the wire',
      60_000,
      async () =>
        (await C01.admin.get<JobView[]>('/jobs', { package: pkg.id })).some((j) => j.bytesSent >= SIZE / 4),
      50,
    );

    await C01.process.kill();
    C01.process = await spawnSite(C01.dataDir, C01.url, SERVE);
    await C01.admin.put('/addresses/S02', { rateLimitKbps: null });

    // Two minutes against a ten-minute lease.
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed', 120_000);
    const jobs = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
    expect(jobs.map((j) => j.state)).toEqual(['completed']);
    expect(jobs[0].attempts).toBe(2);
    expect(readFileSync(join(C01.dataDir, 'logs', 'sender.log'), 'utf8')).toContain(
      'took back the jobs of an earlier process of this site',
    );
    const res = await fetch(`${S02.url}/dp/${pkg.id}/big.bin`);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(data));
  }, 180_000);
});
