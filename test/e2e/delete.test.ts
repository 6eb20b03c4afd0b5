import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/common/index.js';
import { waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { DeleteSummary, SiteView } from '../../src/sites/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import { type ProxiedPair, proxiedPair, tempDir } from './helpers.js';

describe('site delete during an active transfer', () => {
  let pair: ProxiedPair;
  const base = tempDir('e2e-delete');

  beforeAll(async () => {
    pair = await proxiedPair(base);
  });

  afterAll(async () => {
    await pair?.stop();
  });

  it('aborts a 64 MiB transfer within a second, and not one byte is sent after delete returns', async () => {
    const { central, child, proxy } = pair;
    const source = join(base, 'big');
    mkdirSync(source);
    writeFileSync(join(source, 'big.bin'), randomBytes(64 * 1024 * 1024));
    const pkg = await central.admin.post<PackageView>('/packages', { name: 'Big', source });
    await central.admin.put('/addresses/S02', { rateLimitKbps: 8 * 1024 });
    await central.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitFor(
      'the transfer under way',
      30_000,
      async () => {
        const jobs = await central.admin.get<JobView[]>('/jobs', { package: pkg.id });
        return jobs.some((j) => j.state === 'active' && j.bytesSent >= 8 * 1024 * 1024);
      },
      50,
    );

    const dry = await central.admin.call<DeleteSummary>('DELETE', '/sites/S02?dryRun=true');
    expect(dry.dryRun).toBe(true);
    expect(dry.jobs).toHaveLength(1);
    expect(dry.bytesQueued).toBeGreaterThan(0);
    expect((await central.admin.get<SiteView>('/sites/S02')).state).toBe('active');

    const summary = await central.admin.call<DeleteSummary>('DELETE', '/sites/S02');
    const returned = Date.now();
    expect(summary.jobs).toHaveLength(1);
    expect(summary.told).toBe('stopped and deinstalled');
    const bytesAtReturn = proxy.bytesToTarget;
    await sleep(2000);
    expect(proxy.bytesToTarget).toBe(bytesAtReturn);
    expect(proxy.lastDataAt).toBeLessThanOrEqual(returned);

    const jobs = await central.admin.get<JobView[]>('/jobs', { site: 'S02' });
    expect(jobs.map((j) => j.state)).toEqual(['cancelled']);
    expect(await central.admin.get<PackageStatus[]>('/status/packages', { site: 'S02' })).toEqual([]);
    expect((await central.admin.get<{ site: string }[]>('/addresses')).map((a) => a.site)).not.toContain(
      'S02',
    );
    expect((await central.admin.get<SiteView>('/sites/S02')).state).toBe('deleted');

    // The reachable site was told to stop and remove its install.
    await waitFor('S02 process to exit', 15_000, async () => child.process.child.exitCode !== null);
    expect(existsSync(child.dataDir)).toBe(false);
  });

  it('refuses to delete this site itself or a site it does not know', async () => {
    const r = await pair.central.admin.call('DELETE', '/sites/C01').catch((e: Error) => e);
    expect(String(r)).toMatch(/this site or its parent/);
    const unknown = await pair.central.admin.call('DELETE', '/sites/Q42').catch((e: Error) => e);
    expect(String(unknown)).toMatch(/site Q42 is not known here/);
  });
});
