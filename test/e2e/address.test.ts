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
import type { AddressView } from '../../src/replication/index.js';
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
    // The job says why it waits.
    const listed = await cli(['job', 'list', '--json', '--data', C01.dataDir]);
    const [waiting] = (JSON.parse(listed.stdout) as (JobView & { waiting: string | null })[]).filter(
      (j) => j.package === pkg.id,
    );
    expect(waiting.waiting).toBe(
      `schedule ${closed}, next window ${String((hour + 2) % 24).padStart(2, '0')}:00`,
    );
    expect((await cli(['job', 'list', '--data', C01.dataDir])).stdout).toContain(`schedule ${closed}`);
    await C01.admin.put('/addresses/S02', { schedule: null });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed');
  });

  it('shows the rate limit in KiB/s under rateLimitKiBps and its old name, and settings at their default as such', async () => {
    const { C01 } = h.sites;
    const set = await cli([
      'address',
      'set',
      '--to',
      'S02',
      '--rate-limit',
      '512',
      '--json',
      '--data',
      C01.dataDir,
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ rateLimitKiBps: 512, rateLimitKbps: 512 });
    const listed = await cli(['address', 'list', '--json', '--data', C01.dataDir]);
    const [row] = JSON.parse(listed.stdout) as AddressView[];
    expect(row).toMatchObject({ rateLimitKiBps: 512, rateLimitKbps: 512 });
    expect(row.defaults).toEqual(['schedule', 'concurrency', 'retries', 'retryDelayMs']);
    const table = await cli(['address', 'list', '--data', C01.dataDir]);
    expect(table.stdout).toContain('512 KiB/s');
    expect(table.stdout).toContain('always (default)');
    // Reset to the default: still shown, with the default value, marked.
    const reset = await cli(['address', 'set', '--to', 'S02', '--rate-limit', '0', '--data', C01.dataDir]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('none (default)');
    expect((await cli(['address', 'list', '--data', C01.dataDir])).stdout).toContain('none (default)');
    const [after] = await C01.admin.get<AddressView[]>('/addresses');
    expect(after).toMatchObject({ rateLimitKiBps: null, rateLimitKbps: null });
    expect(after.defaults).toContain('rateLimitKiBps');
  });

  it("moves a running job's progress while a block is on the wire, not only when it is acknowledged", async () => {
    const { C01, S02 } = h.sites;
    // 3 MiB is one transfer block; at 1 MiB/s it is on the wire for about three seconds.
    await C01.admin.put('/addresses/S02', { rateLimitKiBps: 1024 });
    const pkg = await newPackage(3 * 1024 * 1024);
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    const midway = await waitFor(
      'the job to show part of its bytes sent',
      30_000,
      async () => {
        const [job] = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
        return job && job.bytesSent > 0 && job.bytesSent < job.bytesTotal ? job : null;
      },
      100,
    );
    expect(midway.state).toBe('active');
    // The one block of this job is on the wire until S02 acknowledges it: while the job still has
    // bytes to send after the gauge was read, the gauge showed it.
    const inFlight = await metric(C01.url, 'outpost_sender_blocks_in_flight', { site: 'S02' });
    const [still] = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
    if (still.state === 'active' && still.bytesSent < still.bytesTotal) expect(inFlight).toBe(1);
    // Its rate is the attempt's so far, held near the limit, and the time left follows from it.
    expect(midway.rate).toBeGreaterThan(0);
    expect(midway.rate).toBeLessThan(2 * 1024 * 1024);
    const rate = midway.rate ?? 1;
    expect(midway.etaSeconds).toBe(Math.ceil((midway.bytesTotal - midway.bytesSent) / rate));
    const shown = await cli(['job', 'list', '--site', 'S02', '--data', C01.dataDir]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.split('\n')[0]).toMatch(/sent\s+rate\s+eta\s+attempts/);
    await C01.admin.put('/addresses/S02', { rateLimitKiBps: null });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed');
    expect(await metric(C01.url, 'outpost_sender_blocks_in_flight', { site: 'S02' })).toBe(0);
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
    // --wait follows the work to its end: Install Failed, exit 1 with the reason.
    const waited = await cli(['dp', 'assign', pkg.id, '--dp', 'S02', '--wait', '--data', C01.dataDir]);
    expect(waited.code).toBe(1);
    expect(waited.stdout).toContain('S02: Install Failed');
    expect(waited.stderr).toMatch(/Install Failed at S02: .*cannot reach/);
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
    const args = ['job', 'delete', '--site', 'S02', '--job', job.id.slice(0, 8), '--data', C01.dataDir];
    // Not on a terminal and not confirmed: refused, and the job is still there.
    const refused = await cli(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    expect((await C01.admin.get<JobView[]>('/jobs', { site: 'S02' })).map((j) => j.id)).toContain(job.id);
    const removed = await cli([...args, '--yes']);
    expect(removed.code, removed.stderr).toBe(0);
    const left = await C01.admin.get<JobView[]>('/jobs', { site: 'S02' });
    expect(left.map((j) => j.id)).not.toContain(job.id);
  });

  it('dp unassign off a terminal is refused without --yes and changes nothing; with --yes it unassigns', async () => {
    const { C01 } = h.sites;
    const pkg = await newPackage(1024);
    // --wait returns once the package is Installed there, exit 0.
    const assigned = await cli(['dp', 'assign', pkg.id, '--dp', 'S02', '--wait', '--data', C01.dataDir]);
    expect(assigned.code, assigned.stderr).toBe(0);
    expect(assigned.stdout).toContain('S02: Installed');
    expect((await C01.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id }))[0].state).toBe(
      'Installed',
    );
    const args = ['dp', 'unassign', pkg.id, '--dp', 'S02', '--data', C01.dataDir];
    const refused = await cli(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    const jobs = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
    expect(jobs.map((j) => j.kind)).toEqual(['package']);
    const done = await cli([...args, '--yes']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('unassigned: S02');
  });

  it('job list --watch off a terminal prints the table again only when a job changed', async () => {
    const { C01, S02 } = h.sites;
    const watcher: ChildProcess = spawn(process.execPath, [
      OUTPOST_BIN,
      'job',
      'list',
      '--watch',
      '--json',
      '--site',
      'S02',
      '--data',
      C01.dataDir,
    ]);
    let out = '';
    watcher.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // Each table is one JSON array, starting on a line of its own.
    const tables = () => out.split('\n').filter((line) => line === '[' || line === '[]').length;
    try {
      await waitFor('the first table', 15_000, async () => tables() === 1);
      const pkg = await newPackage(1024);
      await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
      await waitForPackageState(S02, pkg.id, 'S02', 'Installed');
      await waitFor('a table with the new job completed', 15_000, async () => {
        const last = out.slice(out.lastIndexOf('\n[') + 1);
        return tables() > 1 && last.includes(`"package": "${pkg.id}"`) && last.includes('"completed"');
      });
      await waitFor('every job to S02 finished', 15_000, async () =>
        (await C01.admin.get<JobView[]>('/jobs', { site: 'S02' })).every((j) =>
          ['completed', 'failed', 'cancelled'].includes(j.state),
        ),
      );
      // Nothing changes any more: after the poll that saw the last change, a few polls print nothing.
      await sleep(1_500);
      const printed = tables();
      await sleep(3_500);
      expect(tables()).toBe(printed);
    } finally {
      watcher.kill('SIGINT');
    }
  });
});
