import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, type HierarchySite, startHierarchy, waitFor } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { SiteView } from '../../src/sites/index.js';
import type { PackageStatus, Report, StatusMessage } from '../../src/status/index.js';
import { siteReport } from '../reports.js';
import { identityOf, metric, signedPost, tempDir, waitForPackageState } from './helpers.js';

const DROPPED = 'outpost_statmgr_reports_dropped_total';

/**
 * A child signs status reports with its own key about sites that are not its own: its sibling and
 * its parent. The parent applies only what the child says about its own subtree, warns once for
 * the batch and counts the rest; and a parent that passes forged reports on is checked the same
 * way above it.
 *
 * C01 → P01 → S02 and S03 (siblings); C01 → S06, added at C01 and never joined (P01's sibling).
 */
describe('a child speaks only for its own subtree', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-forged');
  let pkg: PackageView;
  const run = randomUUID().slice(0, 8);

  beforeAll(async () => {
    h = await startHierarchy(base, [
      { code: 'C01', type: 'central' },
      { code: 'P01', type: 'primary', parent: 'C01' },
      { code: 'S02', type: 'secondary', parent: 'P01' },
      { code: 'S03', type: 'secondary', parent: 'P01' },
    ]);
    await h.sites.C01.admin.post('/sites', { code: 'S06', type: 'secondary', url: 'http://127.0.0.1:9' });
    const source = join(base, 'src');
    mkdirSync(source);
    writeFileSync(join(source, 'tool.exe'), 'a branch-office tool\n'.repeat(1000));
    pkg = await h.sites.C01.admin.post<PackageView>('/packages', { name: 'Tool', source });
    await h.sites.C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S03'] });
    await waitForPackageState(h.sites.C01, pkg.id, 'S03', 'Installed');
  });

  afterAll(async () => {
    await h?.stop();
  });

  const message = (id: string, site: string, text: string): Report => ({
    kind: 'message',
    message: {
      id,
      severity: 'error',
      component: 'dp',
      site,
      text,
      package: null,
      job: null,
      time: Date.now(),
    },
  });
  const status = (id: string, dp: string, state: PackageStatus['state']): Report => ({
    kind: 'package-status',
    status: {
      package: id,
      sourceVersion: 1,
      site: dp,
      dp,
      state,
      error: null,
      updatedAt: Date.now() + 60_000,
    },
  });
  const record = (code: string, parent: string, state: SiteView['state']) =>
    siteReport(code, parent, state, Date.now() + 60_000);

  async function post(from: HierarchySite, to: HierarchySite, reports: Report[]) {
    const res = await signedPost(to.url, '/s2s/v1/reports', { reports }, identityOf(from.dataDir));
    expect(res.status).toBe(200);
    return res.json();
  }
  const messages = (at: HierarchySite, filter: Record<string, string> = {}) =>
    at.admin.get<StatusMessage[]>('/status/messages', filter);
  const statuses = (at: HierarchySite) => at.admin.get<PackageStatus[]>('/status/packages');
  const sites = async (at: HierarchySite) =>
    Object.fromEntries((await at.admin.get<SiteView[]>('/sites')).map((s) => [s.code, [s.parent, s.state]]));

  it("a child's reports about its sibling and its parent are dropped with one counted warning, and the rest of its batch goes on up", async () => {
    const { C01, P01, S02 } = h.sites;
    const before = { dropped: await metric(P01.url, DROPPED), p01: await sites(P01), c01: await sites(C01) };
    const forged: Report[] = [
      // The package C01 installed on the sibling's DP, reported gone; one on the parent's DP, reported installed.
      status(pkg.id, 'S03', 'Removed'),
      status(pkg.id, 'P01', 'Installed'),
      record('S03', 'P01', 'deleted'),
      record('P01', 'C01', 'failed'),
      message(`as-parent-${run}`, 'P01', 'P01 lost its content library'),
      message(`as-sibling-${run}`, 'S03', 'S03 failed'),
      { kind: 'purge', code: 'S03', at: Date.now() },
    ];
    const good = [
      message(`own-${run}`, 'S02', 'a real report from S02'),
      status('C01000EE', 'S02', 'Install Retrying'),
    ];
    const answer = await post(S02, P01, [...forged.slice(0, 3), ...good, ...forged.slice(3)]);
    expect(answer).toEqual({ applied: 2, dropped: 7 });

    const warnings = (await messages(P01, { component: 'statmgr' })).filter((m) =>
      m.text.includes('outside'),
    );
    expect(warnings.map((m) => [m.site, m.subject, m.text])).toEqual([
      ['P01', 'S02', 'dropped 7 status reports from S02 about sites outside its subtree: S03, P01'],
    ]);
    expect((await metric(P01.url, DROPPED)) - before.dropped).toBe(7);

    // What S02 said about itself reaches the central site; nothing it said about others is anywhere.
    await waitFor('S02’s own report at C01', 20_000, async () =>
      (await messages(C01, { site: 'S02' })).some((m) => m.id === `own-${run}`),
    );
    await waitForPackageState(C01, 'C01000EE', 'S02', 'Install Retrying');
    for (const at of [P01, C01]) {
      const ids = (await messages(at)).map((m) => m.id);
      expect(ids).not.toContain(`as-parent-${run}`);
      expect(ids).not.toContain(`as-sibling-${run}`);
      const held = (await statuses(at)).filter((s) => s.package === pkg.id).map((s) => [s.dp, s.state]);
      expect(held, at.code).toEqual([['S03', 'Installed']]);
    }
    expect(await sites(P01)).toEqual(before.p01);
    // P01's warning goes up as P01's own, about S02.
    await waitFor('P01’s warning at C01', 20_000, async () =>
      (await messages(C01, { site: 'S02', component: 'statmgr' })).some((m) => m.text === warnings[0].text),
    );
    expect(await sites(C01)).toEqual(before.c01);
  });

  it('a parent that passes forged reports on is checked again above it; a grandchild it reports is taken with what follows', async () => {
    const { C01, P01 } = h.sites;
    const before = { dropped: await metric(C01.url, DROPPED), c01: await sites(C01) };
    const forged: Report[] = [
      status(pkg.id, 'S06', 'Installed'),
      message(`as-central-${run}`, 'C01', 'C01 database corrupt'),
      message(`as-uncle-${run}`, 'S06', 'S06 failed'),
      record('S06', 'P01', 'active'),
      { kind: 'purge', code: 'S06', at: Date.now() },
      { kind: 'purge', code: 'C01', at: Date.now() },
    ];
    // A new site below S02 and, in the same batch, a report from it.
    const good = [record('S07', 'S02', 'pending'), message(`from-new-${run}`, 'S07', 'S07 joined')];
    expect(await post(P01, C01, [...forged.slice(0, 2), ...good, ...forged.slice(2)])).toEqual({
      applied: 2,
      dropped: 6,
    });

    const warnings = (await messages(C01, { component: 'statmgr' })).filter((m) =>
      m.text.includes('from P01'),
    );
    expect(warnings.map((m) => m.text)).toEqual([
      'dropped 6 status reports from P01 about sites outside its subtree: S06, C01',
    ]);
    expect((await metric(C01.url, DROPPED)) - before.dropped).toBe(6);
    expect(await sites(C01)).toEqual({ ...before.c01, S07: ['S02', 'pending'] });
    expect(before.c01.S06).toEqual(['C01', 'pending']);
    const ids = (await messages(C01)).map((m) => m.id);
    expect(ids).toContain(`from-new-${run}`);
    expect(ids).not.toContain(`as-central-${run}`);
    expect(ids).not.toContain(`as-uncle-${run}`);
    expect((await statuses(C01)).filter((s) => s.dp === 'S06')).toEqual([]);
  });
});
