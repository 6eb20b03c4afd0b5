import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, spawnSite, startHierarchy, THREE_LEVELS, waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { PackageStatus, StatusMessage } from '../../src/status/index.js';
import { cli, tempDir, waitForPackageState } from './helpers.js';

/**
 * `dp redistribute` at the origin after the job of a site further down gave up: the request travels
 * down the hierarchy to the site whose job failed, which makes that job again; the status at the
 * origin follows what really happens (failed again while the DP is still down, Installed once it is
 * up), and no job is deleted by hand.
 */
describe('dp redistribute reaches the hop that failed', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-redistribute');

  beforeAll(async () => {
    h = await startHierarchy(base, THREE_LEVELS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  const statusAt = async (pkg: string, dp: string) =>
    (await h.sites.C01.admin.get<PackageStatus[]>('/status/packages', { package: pkg })).find(
      (r) => r.dp === dp,
    );
  const redistribute = async (pkg: string) => {
    const r = await cli(['dp', 'redistribute', pkg, '--dp', 'S02', '--data', h.sites.C01.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('redistributed: S02');
  };

  it('a failed job from P01 to S02 runs again after a redistribute at C01', async () => {
    const { C01, P01, S02 } = h.sites;
    await P01.admin.put('/addresses/S02', { retries: 1, retryDelay: '300ms' });
    await S02.process.stop();
    const source = join(base, 'src');
    mkdirSync(source);
    writeFileSync(join(source, 'tool.bin'), randomBytes(256 * 1024));
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Tool', source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });

    const jobsToS02 = () => P01.admin.get<JobView[]>('/jobs', { site: 'S02', package: pkg.id });
    await waitFor('the job from P01 to S02 failed', 60_000, async () =>
      (await jobsToS02()).some((j) => j.state === 'failed'),
    );
    const failed = await waitForPackageState(C01, pkg.id, 'S02', 'Install Failed', 30_000);

    // Still down: the redistribute reaches P01, whose job to S02 runs and fails again, and the
    // origin says so with the reason (not Install Pending with nothing moving).
    await redistribute(pkg.id);
    const again = await waitFor('S02 failed again at C01 after the redistribute', 60_000, async () => {
      const s = await statusAt(pkg.id, 'S02');
      return s?.state === 'Install Failed' && s.updatedAt > failed.updatedAt ? s : null;
    });
    expect(again.error).toBeTruthy();
    const atP01 = await P01.admin.get<StatusMessage[]>('/status/messages', { package: pkg.id });
    expect(atP01.some((m) => m.site === 'P01' && m.text.includes('redistribute'))).toBe(true);

    // Up again: a redistribute at the origin is all it takes.
    S02.process = await spawnSite(S02.dataDir, S02.url, ['--heartbeat', '1s']);
    await redistribute(pkg.id);
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed', 60_000);
    const jobs = await jobsToS02();
    expect(jobs.some((j) => j.state === 'completed')).toBe(true);
    expect(jobs.filter((j) => j.state === 'failed')).toEqual([]);
  }, 240_000);
});
