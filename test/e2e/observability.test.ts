import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { cli, metric, tempDir, waitForPackageState } from './helpers.js';

/** A component's log lines at a site, parsed. */
function logOf(dataDir: string, component: string): Record<string, unknown>[] {
  return readFileSync(join(dataDir, 'logs', `${component}.log`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('logs and metrics worth reading', () => {
  let h: Hierarchy;
  let pkg: PackageView;
  const base = tempDir('e2e-obs');

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    const source = join(base, 'source');
    mkdirSync(source);
    writeFileSync(join(source, 'payload.bin'), randomBytes(3 * 1024 * 1024 + 123));
    pkg = await h.sites.C01.admin.post<PackageView>('/packages', { name: 'Obs', source });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('a job held back by the schedule counts in the bytes queued to its child; none once Installed', async () => {
    const { C01 } = h.sites;
    const hour = new Date().getHours();
    await C01.admin.put('/addresses/S02', { schedule: `${(hour + 2) % 24}-${(hour + 3) % 24}` });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitFor('the job to S02 to be queued', 30_000, async () => {
      const jobs = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
      return jobs.length === 1 && jobs[0].state === 'pending';
    });
    expect(await metric(C01.url, 'outpost_link_queued_bytes', { site: 'S02' })).toBe(pkg.size);
    expect(await metric(C01.url, 'outpost_link_jobs', { site: 'S02', state: 'pending' })).toBe(1);
    expect(await metric(C01.url, 'outpost_dp_packages', { dp: 'S02', state: 'Install Pending' })).toBe(1);

    await C01.admin.put('/addresses/S02', { schedule: null });
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');
    expect(await metric(C01.url, 'outpost_link_queued_bytes', { site: 'S02' })).toBe(0);
  });

  it('/metrics has package state per DP, child state and contact age, jobs per link and the process', async () => {
    const { C01 } = h.sites;
    const text = await (await fetch(`${C01.url}/metrics`)).text();
    expect(text).toContain('outpost_link_queued_bytes{site="S02"} 0');
    expect(await metric(C01.url, 'outpost_dp_packages', { dp: 'S02', state: 'Installed' })).toBe(1);
    expect(await metric(C01.url, 'outpost_dp_packages', { dp: 'S02' })).toBe(1);
    // One state of the child is 1, the others are 0 and present.
    expect(await metric(C01.url, 'outpost_site_state', { site: 'S02', state: 'active' })).toBe(1);
    expect(await metric(C01.url, 'outpost_site_state', { site: 'S02' })).toBe(1);
    expect(text).toContain('outpost_site_state{site="S02",state="unreachable"} 0');
    // Heartbeats every second: the last contact is recent.
    const age = await metric(C01.url, 'outpost_site_contact_age_seconds', { site: 'S02' });
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(30);
    expect(await metric(C01.url, 'outpost_link_jobs', { site: 'S02', state: 'completed' })).toBe(1);
    expect(text).toContain('outpost_link_jobs{site="S02",state="retrying"} 0');
    expect(await metric(C01.url, 'outpost_jobs', { state: 'completed' })).toBe(1);
    // The process and Node.js metrics.
    expect(await metric(C01.url, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(await metric(C01.url, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(await metric(C01.url, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    // The child has no child: no link series, but its own process metrics.
    const below = await (await fetch(`${h.sites.S02.url}/metrics`)).text();
    expect(below).not.toContain('outpost_link_jobs{');
    expect(below).toContain('outpost_dp_packages{dp="S02",state="Installed"} 1');
    expect(below).toContain('nodejs_eventloop_lag_seconds');
    // What the child received, by the link it came over; hashed on its worker threads.
    expect(await metric(h.sites.S02.url, 'outpost_despooler_bytes_total', { site: 'C01' })).toBe(pkg.size);
    expect(below).toMatch(/^# HELP outpost_hash_worker_busy_seconds_total .*utilisation/m);
    expect(await metric(h.sites.S02.url, 'outpost_hash_worker_busy_seconds_total')).toBeGreaterThan(0);
    expect(await metric(h.sites.S02.url, 'outpost_hash_workers')).toBeGreaterThan(0);
  });

  it('the sender logs bytes, duration and rate of the job, with this site and its peer apart', async () => {
    const { C01 } = h.sites;
    const [job] = await C01.admin.get<JobView[]>('/jobs', { package: pkg.id });
    const done = logOf(C01.dataDir, 'sender').find((l) => l.job === job.id && l.bytes !== undefined);
    expect(done).toMatchObject({ site: 'C01', peer: 'S02', component: 'sender', bytes: pkg.size });
    expect(done?.msg).toMatch(/^job completed: 3\.0 MiB in \d+\.\ds at [\d.]+ [KMG]iB\/s$/);
    expect(done?.durationMs).toEqual(expect.any(Number));
    expect(done?.bytesPerSecond).toBeGreaterThan(0);
    // A line about a child names the writer and the child apart (the child was once in `site`).
    expect(logOf(C01.dataDir, 'hierman')).toContainEqual(
      expect.objectContaining({ site: 'C01', peer: 'S02', msg: 'site added, waiting for join' }),
    );

    const r = await cli(['logs', 'sender', '--data', C01.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z info  sender {4}job completed: .* job=${job.id} peer=S02 package=${pkg.id} bytes=${pkg.size} durationMs=\\d+ bytesPerSecond=\\d+$`,
        'm',
      ),
    );
  });
});
