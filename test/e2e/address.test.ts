import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/common/index.js';
import {
  type Hierarchy,
  OUTPOST_BIN,
  spawnSite,
  startHierarchy,
  TWO_LEVELS,
  waitFor,
} from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import { cli, metric, tempDir, waitForPackageState } from './helpers.js';

describe('the sender honours the address', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-address');
  let n = 0;

  async function newPackage(size: number): Promise<PackageView> {
    const source = join(base, `src-${++n}`);
    mkdirSync(source);
    writeFileSync(join(source, 'payload.bin'), randomBytes(size));
    return h.sites.C01.admin.post<PackageView>('/packages', { name: `P${n}`, source });
  }

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('sends nothing outside the schedule window, and everything once the window opens', async () => {
    const { C01, S02 } = h.sites;
    const hour = new Date().getHours();
    // A one-hour window that is not now.
    const closed = `${(hour + 2) % 24}-${(hour + 3) % 24}`;
    await C01.admin.put('/addresses/S02', { schedule: closed });
    const pkg = await newPackage(512 * 1024);
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await sleep(3000);
    const jobs = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ state: 'pending', bytesSent: 0 });
    expect(await metric(S02.url, 'outpost_despooler_bytes_total')).toBe(0);
    await C01.admin.put('/addresses/S02', { schedule: null });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed');
  });

  it('runs at most `concurrency` jobs to a child at once', async () => {
    const { C01, S02 } = h.sites;
    await C01.admin.put('/addresses/S02', { concurrency: 1, rateLimitKbps: 2048 });
    const pkgs = [await newPackage(2 * 1024 * 1024), await newPackage(2 * 1024 * 1024)];
    for (const p of pkgs) await C01.admin.post(`/packages/${p.id}/assign`, { dps: ['S02'] });
    let maxActive = 0;
    await waitFor(
      'both packages Installed',
      60_000,
      async () => {
        const jobs = await C01.admin.get<JobView[]>('/jobs');
        maxActive = Math.max(maxActive, jobs.filter((j) => j.state === 'active').length);
        const rows = await S02.admin.get<PackageStatus[]>('/status/packages');
        return pkgs.every((p) => rows.some((r) => r.package === p.id && r.state === 'Installed'));
      },
      100,
    );
    expect(maxActive).toBe(1);
    await C01.admin.put('/addresses/S02', { concurrency: 2, rateLimitKbps: null });
  });

  it('retries with the configured delay, then fails the job and reports Install Failed with the reason', async () => {
    const { C01, S02 } = h.sites;
    await C01.admin.put('/addresses/S02', { retries: 2, retryDelay: '300ms' });
    await S02.process.stop();
    // Keep S02 counted as reachable so the sender tries (it is not yet marked unreachable).
    const pkg = await newPackage(64 * 1024);
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    const failed = await waitForPackageState(C01, pkg.id, 'S02', 'Install Failed', 30_000);
    expect(failed.error).toMatch(/cannot reach/);
    // The failed job is not re-created behind the administrator's back.
    await sleep(2500);
    const jobs = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
    expect(jobs).toHaveLength(1);
    const [job] = jobs;
    expect(job).toMatchObject({ state: 'failed', attempts: 3 });
    expect(job.lastError).toMatch(/cannot reach/);
    S02.process = await spawnSite(S02.dataDir, S02.url, ['--heartbeat', '1s']);

    // Once the site is back, redistributing sends it again.
    const r = await cli(['dp', 'redistribute', pkg.id, '--dp', 'S02', '--data', C01.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('redistributed: S02');
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed', 30_000);
    const after = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
    expect(after.map((j) => j.state)).toEqual(['completed']);
  });

  it('status messages --follow prints new messages as they arrive', async () => {
    const { C01 } = h.sites;
    // A message from before the follower starts: seeing it proves the first poll has been made.
    const before = await newPackage(1024);
    const follower: ChildProcess = spawn(process.execPath, [
      OUTPOST_BIN,
      'status',
      'messages',
      '--follow',
      '--json',
      '--since',
      '1h',
      '--data',
      C01.dataDir,
    ]);
    let out = '';
    follower.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor('the earlier package in the followed output', 15_000, async () =>
        out.includes(`package ${before.id} `),
      );
      const pkg = await newPackage(1024);
      await waitFor('the new package in the followed output', 15_000, async () =>
        out.includes(`package ${pkg.id} 'P${n}' created`),
      );
      // Idle for a few polls: nothing is printed twice (a poll that found nothing new once lost its
      // place, and the next one printed the whole history again).
      await sleep(3_500);
      const ids = out
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { id: string }).id);
      expect(ids.length).toBeGreaterThan(1);
      expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    } finally {
      follower.kill('SIGINT');
    }
  });

  it('takes a job by the start of its id, as tables show it; a start that names none is an error', async () => {
    const { C01 } = h.sites;
    const about = (await C01.admin.get<{ job: string | null }[]>('/status/messages', {})).find((m) => m.job);
    const jobId = about?.job ?? '';
    expect(jobId).not.toBe('');
    const messages = await cli([
      'status',
      'messages',
      '--job',
      jobId.slice(0, 8),
      '--json',
      '--data',
      C01.dataDir,
    ]);
    expect(messages.code, messages.stderr).toBe(0);
    const found = JSON.parse(messages.stdout) as { job: string }[];
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((m) => m.job === jobId)).toBe(true);
    const none = await cli(['status', 'messages', '--job', '0000ffff', '--data', C01.dataDir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('has an id starting with 0000ffff');

    const job = (await C01.admin.get<JobView[]>('/jobs', { site: 'S02' }))[0];
    const missing = await cli(['job', 'delete', '--site', 'S02', '--job', '0000ffff', '--data', C01.dataDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no job to S02 has an id starting with 0000ffff');
    const removed = await cli([
      'job',
      'delete',
      '--site',
      'S02',
      '--job',
      job.id.slice(0, 8),
      '--data',
      C01.dataDir,
    ]);
    expect(removed.code, removed.stderr).toBe(0);
    const left = await C01.admin.get<JobView[]>('/jobs', { site: 'S02' });
    expect(left.map((j) => j.id)).not.toContain(job.id);
  });
});
