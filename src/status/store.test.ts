import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import type { PackageStatus, Report, ReportedMessage } from './model.js';
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

  /** A message as a child that predates `subject` reports it. */
  const message = (id: string, from: string): ReportedMessage => ({
    id,
    severity: 'info',
    component: 'dp',
    site: from,
    text: 'x',
    package: null,
    job: null,
    time: 1,
  });

  it('applies each report from a child once and forwards only what it applied', async () => {
    const m1: Report = { kind: 'message', message: message('m1', 'S02') };
    expect(await applyReports(site.db, primary, [m1, installed(10)], 100)).toBe(2);
    // The same batch again (a lost acknowledgement) changes nothing and forwards nothing.
    expect(await applyReports(site.db, primary, [m1, installed(10)], 101)).toBe(0);
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

  it('finds a message by the site that reported it or the site it is about', async () => {
    const post = (text: string, subject?: string) =>
      postMessage(site.db, primary, 1, { severity: 'error', component: 'hierman', text, subject });
    await post('S05 failed to install', 'S05');
    await post('about itself', 'P01');
    await post('S06 registered', 'S06');
    const child: Report = {
      kind: 'message',
      message: { ...message('m-s05', 'S05'), subject: null },
    };
    await applyReports(site.db, primary, [child], 2);

    const about = await listMessages(site.db, { site: 'S05' });
    expect(about.map((m) => [m.site, m.subject, m.text])).toEqual([
      ['P01', 'S05', 'S05 failed to install'],
      ['S05', null, 'x'],
    ]);
    // A message about the reporting site itself names no other site.
    expect((await listMessages(site.db, { site: 'P01' })).map((m) => m.subject)).toEqual([
      'S05',
      null,
      'S06',
    ]);
    // The subject travels up with the message.
    const sent = (await pendingReports(site.db, 10)).reports;
    expect(sent.map((r) => (r.kind === 'message' ? r.message.subject : undefined))).toEqual([
      'S05',
      null,
      'S06',
      null,
    ]);
  });

  it('applies a message from a child that sends no subject, and one that does', async () => {
    const old: Report = { kind: 'message', message: message('m-old', 'S05') };
    expect('subject' in old.message).toBe(false);
    const fresh: Report = { kind: 'message', message: { ...message('m-new', 'P02'), subject: 'S07' } };
    expect(await applyReports(site.db, primary, [old, fresh], 100)).toBe(2);
    const rows = await listMessages(site.db, {});
    expect(rows.map((m) => [m.id, m.site, m.subject])).toEqual([
      ['m-old', 'S05', null],
      ['m-new', 'P02', 'S07'],
    ]);
    expect((await listMessages(site.db, { site: 'S07' })).map((m) => m.id)).toEqual(['m-new']);
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
