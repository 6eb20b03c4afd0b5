import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MpClient } from '../../src/client/index.js';
import { type Hierarchy, startHierarchy, THREE_LEVELS, waitFor } from '../../src/demo/index.js';
import type { BoundaryView, DeploymentSummary, DeploymentView } from '../../src/mp/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { generateSiteKeys, type Policy } from '../../src/s2s/index.js';
import { tempDir, waitForPackageState } from './helpers.js';

describe('boundaries and deployments through a primary: C01 → P01 → S02', () => {
  const base = tempDir('e2e-mp-fallback');
  let h: Hierarchy;
  let client: MpClient;

  beforeAll(async () => {
    h = await startHierarchy(base, THREE_LEVELS);
    client = new MpClient(h.sites.S02.url, generateSiteKeys().privateKeyPem, { bind: '127.0.4.20' });
  });
  afterAll(async () => {
    await client?.close();
    await h?.stop();
  });

  it("a client of S02 gets P01's DP only with --fallback while S02 lacks the content, then S02's first; its report reaches C01", async () => {
    const { C01, P01, S02 } = h.sites;
    const source = join(base, 'app');
    mkdirSync(source);
    writeFileSync(join(source, 'setup.sh'), 'echo installed\n');
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'App', source });
    // On P01's DP, not yet on S02's.
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['P01'] });
    await waitForPackageState(C01, pkg.id, 'P01', 'Installed');
    // Made at C01, for S02 two levels down; overlapping 127.0.0.0/8 of P01, which S02 must know too.
    await C01.admin.post('/boundaries', { site: 'S02', range: '127.0.4.0/24', name: 's02' });
    await C01.admin.post('/boundaries', { site: 'P01', range: '127.0.0.0/8', name: 'p01-wide' });
    const strict = await C01.admin.post<DeploymentView>('/deployments', {
      package: pkg.id,
      command: 'sh setup.sh',
      sites: ['S02'],
    });
    const fallback = await C01.admin.post<DeploymentView>('/deployments', {
      package: pkg.id,
      command: 'sh setup.sh',
      boundaries: ['s02'],
      fallback: true,
    });
    await waitFor('both deployments at S02', 30_000, async () => {
      const held = await S02.admin.get<DeploymentView[]>('/deployments');
      return held.length === 2;
    });
    const atS02 = await S02.admin.get<BoundaryView[]>('/boundaries');
    expect(atS02.map((b) => [b.name, b.origin]).sort()).toEqual([
      ['p01-wide', 'C01'],
      ['s02', 'C01'],
    ]);

    expect(await client.register()).toMatchObject({ assigned: true, site: 'S02', boundary: 's02' });
    const dpsOf = (p: Policy, id: string) => p.deployments.find((d) => d.id === id)?.dps.map((d) => d.url);
    const p01Dp = `${P01.url}/dp/${pkg.id}/`;
    const s02Dp = `${S02.url}/dp/${pkg.id}/`;
    const before = await waitFor('P01 as the fallback DP', 30_000, async () => {
      const p = (await client.policy()) as Policy;
      return dpsOf(p, fallback.id)?.length ? p : undefined;
    });
    expect(dpsOf(before, fallback.id)).toEqual([p01Dp]);
    expect(dpsOf(before, strict.id)).toEqual([]);

    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');
    const after = await waitFor("S02's DP first", 30_000, async () => {
      const p = (await client.policy()) as Policy;
      return dpsOf(p, fallback.id)?.length === 2 ? p : undefined;
    });
    expect(dpsOf(after, fallback.id)).toEqual([s02Dp, p01Dp]);
    expect(dpsOf(after, strict.id)).toEqual([s02Dp]);

    // A client in P01's wide range but not in S02's is sent to P01's MP.
    const neighbour = new MpClient(S02.url, generateSiteKeys().privateKeyPem, { bind: '127.0.5.1' });
    expect(await neighbour.register()).toMatchObject({ assigned: false, reason: 'other-site', site: 'P01' });
    await neighbour.close();

    await client.report({ deployment: fallback.id, state: 'failed', exitCode: 3, output: 'disk full' });
    const rows = await waitFor('the report two levels up', 30_000, async () => {
      const r = await C01.admin.get<DeploymentSummary[]>('/status/deployments', { site: 'S02' });
      return r.some((x) => x.deployment === fallback.id && x.failed === 1) ? r : undefined;
    });
    expect(rows.find((r) => r.deployment === strict.id)).toMatchObject({ unknown: 1, failed: 0 });
    expect(rows.find((r) => r.deployment === fallback.id)?.clients).toMatchObject([
      { client: client.id, state: 'failed', exitCode: 3, output: 'disk full' },
    ]);
  }, 120_000);
});
