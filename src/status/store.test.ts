import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { siteReport } from '../../test/reports.js';
import { insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { systemClock } from '../common/index.js';
import { createMetrics, Wake } from '../core/index.js';
import { type Database, openDatabase, type SiteDb, type SiteRelation, type SiteState } from '../db/index.js';
import { createLoggers } from '../logs/index.js';
import type { PackageStatus, Report, ReportedMessage } from './model.js';
import { listMessages, listPackageStatus } from './queries.js';
import { acceptReports } from './statmgr.js';
import { acknowledgeReports, applyReports, pendingReports, postMessage, setPackageStatus } from './store.js';

type Planted = [code: string, relation: SiteRelation, parent: string | null, state?: SiteState];

/** Site rows as this site would hold them: itself, its parent, its children and what they reported. */
async function plantSites(db: Kysely<Database>, sites: Planted[]): Promise<void> {
  for (const [code, relation, parent_code, state = 'active'] of sites)
    await insertChildSite(db, { code, relation, parent_code, state });
}

describe('status outbox', () => {
  let site: SiteDb;
  const primary = { site: 'P01', hasParent: true };

  beforeEach(async () => {
    site = await openDatabase({
      kind: 'sqlite',
      file: join(tempDir('status'), 'db'),
    });
    // P01 under C01, with its child S02 and S02's own child S05.
    await plantSites(site.db, [
      ['C01', 'parent', null],
      ['P01', 'self', 'C01'],
      ['S02', 'child', 'P01'],
      ['S05', 'descendant', 'S02'],
    ]);
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

  it('takes a named DP from the subtree it lies in, and its removal drops its assignments and status', async () => {
    const dp = (site: string, name: string, removed: boolean, updatedAt: number): Report => ({
      kind: 'dp',
      dp: { dp: name, site, url: null, removed, updatedAt },
    });
    const result = await applyReports(
      site.db,
      primary,
      'S02',
      [dp('S05', 'S05/lab', false, 10), dp('S03', 'S03/lab', false, 10), dp('S02', 'S05/lab', false, 11)],
      100,
    );
    expect(result).toEqual({ applied: 1, outside: ['S03', 'S02'] });
    expect(await site.db.selectFrom('dps').select(['dp', 'site_code']).execute()).toEqual([
      { dp: 'S05/lab', site_code: 'S05' },
    ]);
    await site.db
      .insertInto('assignments')
      .values({ package_id: 'C0100001', dp: 'S05/lab', site_code: 'S05', created_at: 1 })
      .execute();
    await setPackageStatus(site.db, primary, { ...status(20), site: 'S05', dp: 'S05/lab' });
    expect(await applyReports(site.db, primary, 'S02', [dp('S05', 'S05/lab', true, 30)], 100)).toEqual({
      applied: 1,
      outside: [],
    });
    expect(await site.db.selectFrom('dps').select('dp').execute()).toEqual([]);
    expect(await site.db.selectFrom('assignments').select('dp').execute()).toEqual([]);
    expect(await listPackageStatus(site.db, {})).toEqual([]);
    // Forwarded up, as applied.
    const kinds = (await pendingReports(site.db, 100)).reports.map((r) => r.kind);
    expect(kinds.filter((k) => k === 'dp')).toHaveLength(2);
  });

  it('takes clients and their deployment status from the subtree they lie in, the newest of each, and passes them on', async () => {
    const client = (id: string, at: string, updatedAt: number): Report => ({
      kind: 'client',
      client: { id, site: at, name: null, address: '10.2.0.5', boundary: 'b', registeredAt: 1, updatedAt },
    });
    const report = (
      clientId: string,
      at: string,
      state: 'succeeded' | 'failed',
      updatedAt: number,
    ): Report => ({
      kind: 'deployment-status',
      status: {
        deployment: 'C01D00001',
        package: 'C0100001',
        client: clientId,
        site: at,
        state,
        exitCode: state === 'failed' ? 1 : 0,
        output: null,
        updatedAt,
      },
    });
    const a = '00000000000000aa';
    const b = '00000000000000bb';
    const result = await applyReports(
      site.db,
      primary,
      'S02',
      [
        client(a, 'S05', 10),
        client(b, 'S03', 10),
        report(a, 'S05', 'failed', 20),
        report(a, 'S05', 'succeeded', 30),
        report(a, 'S05', 'failed', 25),
        report(b, 'P01', 'succeeded', 30),
      ],
      100,
    );
    expect(result).toEqual({ applied: 3, outside: ['S03', 'P01'] });
    expect(await site.db.selectFrom('clients').select(['id', 'site_code', 'public_key']).execute()).toEqual([
      { id: a, site_code: 'S05', public_key: null },
    ]);
    expect(
      await site.db.selectFrom('deployment_status').select(['client_id', 'state', 'exit_code']).execute(),
    ).toEqual([{ client_id: a, state: 'succeeded', exit_code: 0 }]);
    const kinds = (await pendingReports(site.db, 100)).reports.map((r) => r.kind);
    expect(kinds).toEqual(['client', 'deployment-status', 'deployment-status']);
  });

  it('applies each report from a child once and forwards only what it applied', async () => {
    const m1: Report = { kind: 'message', message: message('m1', 'S02') };
    expect(await applyReports(site.db, primary, 'S02', [m1, installed(10)], 100)).toEqual({
      applied: 2,
      outside: [],
    });
    // The same batch again (a lost acknowledgement) changes nothing and forwards nothing.
    expect((await applyReports(site.db, primary, 'S02', [m1, installed(10)], 101)).applied).toBe(0);
    expect((await listMessages(site.db, {})).map((m) => m.id)).toEqual(['m1']);
    expect((await pendingReports(site.db, 100)).reports).toHaveLength(2);
  });

  it('keeps the newest package status when reports arrive out of order', async () => {
    await applyReports(site.db, primary, 'S02', [installed(20)], 100);
    expect(
      (await applyReports(site.db, primary, 'S02', [installed(10, 'Install Retrying')], 100)).applied,
    ).toBe(0);
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
    await applyReports(site.db, primary, 'S02', [child], 2);

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
    const fresh: Report = { kind: 'message', message: { ...message('m-new', 'S02'), subject: 'S07' } };
    expect((await applyReports(site.db, primary, 'S02', [old, fresh], 100)).applied).toBe(2);
    const rows = await listMessages(site.db, {});
    expect(rows.map((m) => [m.id, m.site, m.subject])).toEqual([
      ['m-old', 'S05', null],
      ['m-new', 'S02', 'S07'],
    ]);
    expect((await listMessages(site.db, { site: 'S07' })).map((m) => m.id)).toEqual(['m-new']);
  });

  it('filters by severity: the one asked for and every worse one', async () => {
    const central = { site: 'C01', hasParent: false };
    for (const severity of ['info', 'warning', 'error'] as const)
      await postMessage(site.db, central, 1, { severity, component: 'hierman', text: severity });
    const texts = async (severity: 'info' | 'warning' | 'error') =>
      (await listMessages(site.db, { severity })).map((m) => m.text);
    expect(await texts('info')).toEqual(['info', 'warning', 'error']);
    expect(await texts('warning')).toEqual(['warning', 'error']);
    expect(await texts('error')).toEqual(['error']);
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

describe('a child speaks only for its own subtree', () => {
  let site: SiteDb;
  const p01 = { site: 'P01', hasParent: true };

  beforeEach(async () => {
    site = await openDatabase({ kind: 'sqlite', file: join(tempDir('subtree'), 'db') });
    // P01 under C01; its children S02 (with S05 below it) and S03 (with S06, and a deleted S04).
    await plantSites(site.db, [
      ['C01', 'parent', null],
      ['P01', 'self', 'C01'],
      ['S02', 'child', 'P01'],
      ['S05', 'descendant', 'S02'],
      ['S03', 'child', 'P01'],
      ['S06', 'descendant', 'S03'],
      ['S04', 'descendant', 'S03', 'deleted'],
    ]);
  });
  afterEach(async () => {
    await site.close();
  });

  const message = (id: string, from: string, subject: string | null = null): Report => ({
    kind: 'message',
    message: {
      id,
      severity: 'error',
      component: 'dp',
      site: from,
      text: id,
      package: null,
      job: null,
      subject,
      time: 1,
    },
  });
  const status = (dp: string, site = dp.split('/')[0]): Report => ({
    kind: 'package-status',
    status: {
      package: 'C0100001',
      sourceVersion: 1,
      site,
      dp,
      state: 'Installed',
      error: null,
      updatedAt: 5,
    },
  });
  const record = (code: string, parent: string | null, state: SiteState = 'active') =>
    siteReport(code, parent, state, 10);
  const purge = (code: string): Report => ({ kind: 'purge', code, at: 10 });

  const sites = async () =>
    Object.fromEntries(
      (await site.db.selectFrom('sites').select(['code', 'parent_code']).execute()).map((r) => [
        r.code,
        r.parent_code,
      ]),
    );
  const forwarded = async () => (await pendingReports(site.db, 100)).reports;

  it('applies what a child reports about itself and below it, and drops what it says of its parent, its sibling or its own record', async () => {
    const good = [
      // The subject is what the message is about, and may lie anywhere: a refused request that claimed to be C01.
      message('ok-own', 'S02', 'C01'),
      message('ok-below', 'S05'),
      status('S05'),
      status('S02/EAST'),
    ];
    const forged = [
      message('as-self', 'P01'),
      message('as-sibling', 'S03'),
      message('as-grandparent', 'C01'),
      status('S03'),
      status('S03', 'S02'),
      status('S02', 'S03'),
      record('S03', 'S02'),
      record('P01', 'S02'),
      record('S02', 'P01', 'failed'),
      record('S07', 'S03'),
      record('S07', null),
      purge('S03'),
      purge('S06'),
      purge('S02'),
      purge('P01'),
      purge('C01'),
    ];
    const before = await sites();
    const result = await applyReports(
      site.db,
      p01,
      'S02',
      [...forged.slice(0, 8), ...good, ...forged.slice(8)],
      100,
    );
    expect(result).toEqual({
      applied: 4,
      outside: [
        'P01',
        'S03',
        'C01',
        'S03',
        'S03',
        'S03',
        'S03',
        'P01',
        'S02',
        'S07',
        'S07',
        'S03',
        'S06',
        'S02',
        'P01',
        'C01',
      ],
    });
    expect(await sites()).toEqual(before);
    expect((await listMessages(site.db, {})).map((m) => [m.id, m.site, m.subject])).toEqual([
      ['ok-own', 'S02', 'C01'],
      ['ok-below', 'S05', null],
    ]);
    expect((await listPackageStatus(site.db, {})).map((s) => s.dp)).toEqual(['S02/EAST', 'S05']);
    expect(await forwarded()).toEqual(good);
  });

  it('a record that places a new site below the child admits reports about it later in the same batch, not before', async () => {
    const result = await applyReports(
      site.db,
      p01,
      'S02',
      [
        message('early', 'S08'),
        record('S08', 'S05'),
        message('late', 'S08'),
        status('S08'),
        record('S09', 'S08'),
        message('deeper', 'S09'),
      ],
      100,
    );
    expect(result).toEqual({ applied: 5, outside: ['S08'] });
    expect(await sites()).toMatchObject({ S08: 'S05', S09: 'S08' });
    expect((await listMessages(site.db, {})).map((m) => m.id)).toEqual(['late', 'deeper']);
    // The next batch finds them in the table.
    expect(await applyReports(site.db, p01, 'S02', [status('S09')], 101)).toEqual({
      applied: 1,
      outside: [],
    });
    expect((await applyReports(site.db, p01, 'S03', [status('S09')], 101)).outside).toEqual(['S09']);
  });

  it('a purge of a site below the child, or of a code unknown here, is applied and passed on; after it the site is outside', async () => {
    const result = await applyReports(site.db, p01, 'S02', [purge('S05'), status('S05'), purge('X99')], 100);
    expect(result).toEqual({ applied: 2, outside: ['S05'] });
    expect(Object.keys(await sites())).not.toContain('S05');
    expect(await forwarded()).toEqual([purge('S05'), purge('X99')]);
  });

  it("a deleted site's code may be reused below the child; a live site elsewhere may not be taken over", async () => {
    const result = await applyReports(
      site.db,
      p01,
      'S02',
      [record('S04', 'S05'), status('S04'), record('S06', 'S02')],
      100,
    );
    expect(result).toEqual({ applied: 2, outside: ['S06'] });
    expect(await sites()).toMatchObject({ S04: 'S05', S06: 'S03' });
  });

  it('a forged parent chain that loops is outside every subtree', async () => {
    // S05 reparented below its own new child: S05 → S10 → S05 reaches no child of P01 any more.
    await applyReports(site.db, p01, 'S02', [record('S10', 'S05'), record('S05', 'S10')], 100);
    expect(await applyReports(site.db, p01, 'S02', [status('S10'), message('m', 'S05')], 101)).toEqual({
      applied: 0,
      outside: ['S10', 'S05'],
    });
  });

  it('acceptReports drops a batch’s strays with one warning that counts them, counts the metric, and applies the rest', async () => {
    const metrics = createMetrics();
    const ctx = {
      db: site.db,
      sink: p01,
      clock: systemClock,
      log: createLoggers(join(tempDir('subtree-logs'), 'logs'), 'P01').log,
      wake: new Wake(),
      metrics,
    };
    const strays = ['C01', 'P01', 'S03', 'S04', 'S06', 'S11', 'S12', 'S13', 'S14', 'S15', 'S16', 'S17'];
    const batch = [
      { kind: 'message', message: 'not a message' },
      message('ok', 'S02'),
      ...strays.map((code) => message(`from-${code}`, code)),
      message('again', 'S03'),
    ];
    expect(await acceptReports(ctx, 'S02', batch)).toEqual({ applied: 1, dropped: 14 });
    const warnings = await listMessages(site.db, { component: 'statmgr' });
    expect(warnings.map((m) => [m.severity, m.site, m.subject, m.text])).toEqual([
      ['warning', 'P01', 'S02', 'dropped 1 malformed status reports from S02'],
      [
        'warning',
        'P01',
        'S02',
        'dropped 13 status reports from S02 about sites outside its subtree: C01, P01, S03, S04, S06, S11, S12, S13, S14, S15 and 2 more',
      ],
    ]);
    expect((await listMessages(site.db, { component: 'dp' })).map((m) => m.id)).toEqual(['ok']);
    const counted = (await metrics.reportsDropped.get()).values.map((v) => [
      v.labels.child,
      v.labels.reason,
      v.value,
    ]);
    expect(counted).toEqual([
      ['S02', 'malformed', 1],
      ['S02', 'outside-subtree', 13],
    ]);
    // A clean batch adds no warning.
    await acceptReports(ctx, 'S02', [message('ok-2', 'S05')]);
    expect(await listMessages(site.db, { component: 'statmgr' })).toHaveLength(2);
  });
});
