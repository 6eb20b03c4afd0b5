import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type Hierarchy,
  type SiteProcess,
  spawnSite,
  startHierarchy,
  waitFor,
} from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { loadSiteKeys, sha256Hex, signRequest } from '../../src/s2s/index.js';
import type { AddSiteResult, DeleteSummary, SitePhase, SiteView } from '../../src/sites/index.js';
import { joinSite } from '../../src/sites/index.js';
import type { StatusMessage } from '../../src/status/index.js';
import { cli, identityOf, metric, tempDir, waitForPackageState } from './helpers.js';
import { TestProxy } from './proxy.js';

type SiteShow = SiteView & { phases: SitePhase[] };

/**
 * The first seed document, end to end: a secondary install that stalls and is reported failed at
 * its parent within the deadline; its jobs; delete; the leftovers on the host; purge; a new install
 * with the same site code; and a message from the old generation refused.
 */
describe('secondary site lifecycle (the seed scenario)', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-life');
  const root = join(base, 'host-root');
  const dataDir = join(root, 'var', 'lib', 'outpost', 'S03');
  let proxy: TestProxy;
  let childPort: number;
  let child: SiteProcess | null = null;
  let pkg: PackageView;

  beforeAll(async () => {
    h = await startHierarchy(base, [
      { code: 'C01', type: 'central' },
      { code: 'P01', type: 'primary', parent: 'C01' },
    ]);
    childPort = await freePort();
    proxy = new TestProxy(childPort);
    await proxy.listen();
    const source = join(base, 'src');
    mkdirSync(source);
    writeFileSync(join(source, 'tool.exe'), 'a branch-office tool\n'.repeat(5000));
    pkg = await h.sites.C01.admin.post<PackageView>('/packages', { name: 'Tool', source });
  });

  afterAll(async () => {
    await child?.stop();
    await h?.stop();
    await proxy?.close();
  });

  const { P01 } = { P01: () => h.sites.P01 };
  const joinS03 = (token: string, service?: 'systemd') =>
    joinSite({ dataDir, parentUrl: P01().url, token, listen: `127.0.0.1:${childPort}`, root, service });

  async function addS03(deadline: string): Promise<AddSiteResult> {
    return P01().admin.post<AddSiteResult>('/sites', {
      code: 'S03',
      type: 'secondary',
      url: proxy.url,
      joinDeadline: deadline,
    });
  }

  it('a join that never comes is reported failed at the parent within its deadline', async () => {
    await P01().admin.post<AddSiteResult>('/sites', {
      code: 'X04',
      type: 'secondary',
      url: 'http://127.0.0.1:9',
      joinDeadline: '2s',
    });
    // The deadline plus the watch interval, with slack for a loaded machine.
    const failed = await waitFor('X04 failed at P01', 15_000, async () => {
      const s = await P01().admin.get<SiteShow>('/sites/X04');
      return s.state === 'failed' ? s : null;
    });
    expect(failed.error).toBe('registration: no join arrived within 2s');
    expect(failed.phases).toContainEqual(expect.objectContaining({ name: 'registration', state: 'failed' }));
    const errors = await P01().admin.get<StatusMessage[]>('/status/messages', { component: 'hierman' });
    expect(
      errors.some(
        (m) => m.severity === 'error' && m.text.includes('X04 failed to install in phase registration'),
      ),
    ).toBe(true);

    // An administrator looking into X04 finds what its parent said about it, there and at the top.
    const r = await cli(['status', 'messages', '--site', 'X04', '--json', '--data', P01().dataDir]);
    expect(r.code, r.stderr).toBe(0);
    const aboutX04 = JSON.parse(r.stdout) as StatusMessage[];
    expect(aboutX04).toContainEqual(
      expect.objectContaining({
        site: 'P01',
        subject: 'X04',
        severity: 'error',
        text: expect.stringContaining('X04 failed to install in phase registration'),
      }),
    );
    expect(aboutX04.every((m) => m.site === 'X04' || m.subject === 'X04')).toBe(true);
    await waitFor('the failure of X04 found by its code at C01', 10_000, async () =>
      (await h.sites.C01.admin.get<StatusMessage[]>('/status/messages', { site: 'X04' })).some(
        (m) => m.site === 'P01' && m.subject === 'X04' && m.severity === 'error',
      ),
    );
  });

  it('an install that stalls when its process is killed is failed at the parent, with the phase and why', async () => {
    // Long enough for a server to start on a loaded machine; the DP phase can never finish.
    const added = await addS03('20s');
    await waitFor('S03 pending at C01', 10_000, async () =>
      (await h.sites.C01.admin.get<SiteView[]>('/sites')).some((s) => s.code === 'S03'),
    );
    // A package assigned while the site is being installed: its job waits at P01.
    await h.sites.C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S03'] });
    await waitFor(
      'a job for S03 at P01',
      20_000,
      async () => (await P01().admin.get<JobView[]>('/jobs', { site: 'S03' })).length > 0,
    );

    await joinS03(added.joinToken, 'systemd');
    // The link to the new site goes dead, then its server is killed mid-install.
    proxy.blackhole = true;
    child = await spawnSite(dataDir, `http://127.0.0.1:${childPort}`, ['--heartbeat', '500ms']);
    await waitFor('S03 components started', 30_000, async () =>
      (await P01().admin.get<SiteShow>('/sites/S03')).phases.some(
        (p) => p.name === 'components' && p.state === 'done',
      ),
    );
    await child.kill();
    // Within the deadline, plus the parent's own 5s attempt to reach the site, plus slack for its
    // watch interval on a loaded machine: the deadline, not something else, ends the install.
    const failed = await waitFor('S03 failed at P01', 20_000 + 5000 + 15_000, async () => {
      const s = await P01().admin.get<SiteShow>('/sites/S03');
      return s.state === 'failed' ? s : null;
    });
    expect(failed.error).toMatch(/^DP ready: /);
    expect(failed.phases.map((p) => `${p.name}:${p.state}`)).toEqual([
      'preflight:done',
      'data directory:done',
      'keys:done',
      'registration:done',
      'components:done',
      'DP ready:failed',
    ]);
    await waitFor('S03 failed at C01', 10_000, async () =>
      (await h.sites.C01.admin.get<SiteView[]>('/sites')).some(
        (s) => s.code === 'S03' && s.state === 'failed',
      ),
    );
    const jobs = await P01().admin.get<JobView[]>('/jobs', { site: 'S03' });
    expect(jobs.filter((j) => j.state === 'pending')).toHaveLength(1);
  }, 150_000);

  it('delete cancels its jobs and sends nothing more; audit shows the leftovers; purge cleans them', async () => {
    const old = identityOf(dataDir);
    const oldGeneration = old.generation;
    proxy.blackhole = false;
    const r = await cli(['site', 'delete', 'S03', '--yes', '--json', '--data', P01().dataDir]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as DeleteSummary;
    expect(summary.jobs).toHaveLength(1);
    expect(summary.assignments).toEqual([{ package: pkg.id, dp: 'S03' }]);
    const bytesAtDelete = proxy.bytesToTarget;
    const jobs = await P01().admin.get<JobView[]>('/jobs', { site: 'S03' });
    expect(jobs.every((j) => j.state === 'cancelled')).toBe(true);

    const audit = await cli(['host', 'audit', '--code', 'S03', '--root', root, '--json']);
    expect(audit.code).toBe(1);
    const leftovers = (
      JSON.parse(audit.stdout) as { clean: boolean; leftovers: { kind: string; path?: string }[] }
    ).leftovers;
    expect(leftovers.map((l) => l.kind).sort()).toEqual(['directory', 'service']);
    expect(leftovers.find((l) => l.kind === 'service')?.path).toBe(
      join(root, 'etc', 'systemd', 'system', 'outpost-s03.service'),
    );

    const purge = await cli(['host', 'purge', '--code', 'S03', '--root', root, '--yes']);
    expect(purge.code, purge.stderr).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
    const clean = await cli(['host', 'audit', '--code', 'S03', '--root', root]);
    expect(clean.code).toBe(0);
    expect(proxy.bytesToTarget).toBe(bytesAtDelete);

    // The same site code again: a new install with a new generation.
    const added = await addS03('30s');
    await joinS03(added.joinToken);
    child = await spawnSite(dataDir, `http://127.0.0.1:${childPort}`, ['--heartbeat', '500ms']);
    const active = await waitFor('the new S03 active at P01', 20_000, async () => {
      const s = await P01().admin.get<SiteShow>('/sites/S03');
      return s.state === 'active' ? s : null;
    });
    expect(active.generation).not.toBe(oldGeneration);
    // The parent confirmed the new install's DP through the same address as the old one's.
    expect(proxy.bytesToTarget).toBeGreaterThan(bytesAtDelete);

    // Its DP assignments went with the delete; assigned again, the package reaches the new install.
    await waitFor('S03 active at C01', 10_000, async () =>
      (await h.sites.C01.admin.get<SiteView[]>('/sites')).some(
        (s) => s.code === 'S03' && s.state === 'active',
      ),
    );
    await h.sites.C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S03'] });
    await waitForPackageState(h.sites.C01, pkg.id, 'S03', 'Installed', 30_000);

    // A late message signed by the old generation changes nothing, and is counted.
    const before = await P01().admin.get<SiteView>('/sites/S03');
    const oldGenerationRefused = () =>
      metric(P01().url, 'outpost_s2s_rejected_total', { reason: 'wrong-generation', peer: 'S03' });
    const refusedBefore = await oldGenerationRefused();
    const body = JSON.stringify({ time: Date.now() });
    const headers = signRequest(
      loadSiteKeys(old.privateKeyPem),
      { site: 'S03', generation: oldGeneration },
      { method: 'POST', path: '/s2s/v1/heartbeat', bodySha: sha256Hex(body) },
      Date.now(),
    );
    const res = await fetch(`${P01().url}/s2s/v1/heartbeat`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('OUTPOST_WRONG_GENERATION');
    expect(await oldGenerationRefused()).toBe(refusedBefore + 1);
    const after = await P01().admin.get<SiteView>('/sites/S03');
    expect(after.generation).toBe(before.generation);
  });
});
