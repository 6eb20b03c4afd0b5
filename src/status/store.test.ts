import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import type { PackageStatus, Report } from './model.js';
import { listMessages, listPackageStatus } from './queries.js';
import { acknowledgeReports, applyReports, pendingReports, postMessage, setPackageStatus } from './store.js';

describe('status outbox', () => {
  let site: SiteDb;
  const primary = { site: 'P01', hasParent: true };

  beforeEach(async () => {
    site = await openDatabase({
      kind: 'sqlite',
      file: join(tempDir('status'), 'db'),
    });
  });
  afterEach(async () => {
    await site.close();
  });

  const status = (
    updatedAt: number,
    state: 'Installed' | 'Install Retrying' = 'Installed',
  ): PackageStatus => ({
    package: 'C0100001',
    sourceVersion: 1,
    site: 'S02',
    dp: 'S02',
    state,
    error: null,
    updatedAt,
  });
  const installed = (updatedAt: number, state?: 'Installed' | 'Install Retrying'): Report => ({
    kind: 'package-status',
    status: status(updatedAt, state),
  });

  it('applies each report from a child once and forwards only what it applied', async () => {
    const message: Report = {
      kind: 'message',
      message: {
        id: 'm1',
        severity: 'info',
        component: 'dp',
        site: 'S02',
        text: 'x',
        package: null,
        job: null,
        time: 1,
      },
    };
    expect(await applyReports(site.db, primary, [message, installed(10)], 100)).toBe(2);
    // The same batch again (a lost acknowledgement) changes nothing and forwards nothing.
    expect(await applyReports(site.db, primary, [message, installed(10)], 101)).toBe(0);
    expect((await listMessages(site.db, {})).map((m) => m.id)).toEqual(['m1']);
    expect((await pendingReports(site.db, 100)).reports).toHaveLength(2);
  });

  it('keeps the newest package status when reports arrive out of order', async () => {
    await applyReports(site.db, primary, [installed(20)], 100);
    expect(await applyReports(site.db, primary, [installed(10, 'Install Retrying')], 100)).toBe(0);
    expect((await listPackageStatus(site.db, {}))[0].state).toBe('Installed');
  });

  it('a central site keeps no outbox', async () => {
    const central = { site: 'C01', hasParent: false };
    await postMessage(site.db, central, 5, { severity: 'info', component: 'hierman', text: 'hello' });
    await setPackageStatus(site.db, central, status(7));
    expect((await pendingReports(site.db, 100)).reports).toEqual([]);
    expect(await listMessages(site.db, {})).toHaveLength(1);
  });

  it('drops forwarded reports only up to what the parent acknowledged', async () => {
    for (let i = 0; i < 5; i++)
      await postMessage(site.db, primary, i, { severity: 'info', component: 'dp', text: `m${i}` });
    const first = await pendingReports(site.db, 3);
    await acknowledgeReports(site.db, first.upTo);
    const rest = await pendingReports(site.db, 10);
    expect(rest.reports.map((r) => (r.kind === 'message' ? r.message.text : ''))).toEqual(['m3', 'm4']);
  });
});
