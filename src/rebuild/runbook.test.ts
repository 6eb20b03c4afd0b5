import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { centralConfig, insertAddress, insertChildSite, packageRow } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { TransferRegistry, Wake } from '../core/index.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import { createLoggers } from '../logs/index.js';
import { generateSiteKeys, loadSiteKeys } from '../s2s/index.js';
import type { RebuildView } from './model.js';
import { abortRebuild, checkRebuild, planOf, rebuildStatus, resumeRebuild, startRebuild } from './runbook.js';
import type { RunCtx } from './steps.js';
import { beginStep, confirmStep, failStep, finishStep, retryStep, stepsOf, waitStep } from './store.js';

const MiB = 1024 * 1024;

describe('the rebuild runbook at the parent', () => {
  let site: SiteDb;
  let ctx: RunCtx;
  let now = 1_000_000;

  beforeEach(async () => {
    const dir = tempDir('rebuild');
    site = await openDatabase({ kind: 'sqlite', file: join(dir, 'db') });
    const clock = { now: () => now };
    ctx = {
      clock,
      config: centralConfig,
      db: site.db,
      identity: {
        site: 'C01',
        generation: 'c01-generation',
        keys: loadSiteKeys(generateSiteKeys().privateKeyPem),
        clock,
      },
      log: createLoggers(join(dir, 'logs'), 'C01').log,
      sink: { site: 'C01', hasParent: false },
      transfers: new TransferRegistry(),
      wake: new Wake(),
    };
    await insertChildSite(site.db, { url: 'http://127.0.0.1:9', generation: 'old-gen', name: 'Branch' });
    await insertAddress(site.db);
    await site.db.updateTable('addresses').set({ rate_limit_kbps: 512 }).execute();
    // Two packages assigned to S02: one Installed there (the old host holds it), one not yet.
    for (const [id, state, size] of [
      ['C0100001', 'Installed', 3 * MiB],
      ['C0100002', 'Install Pending', 1 * MiB],
    ] as const) {
      await site.db.insertInto('packages').values(packageRow(id)).execute();
      await site.db
        .insertInto('package_files')
        .values({
          package_id: id,
          source_version: 1,
          path: 'a.bin',
          size,
          sha256: '0'.repeat(64),
          chunks: '[]',
        })
        .execute();
      await site.db
        .insertInto('assignments')
        .values({ package_id: id, dp: 'S02', site_code: 'S02', created_at: 0 })
        .execute();
      await site.db
        .insertInto('package_status')
        .values({
          package_id: id,
          dp: 'S02',
          site_code: 'S02',
          source_version: 1,
          state,
          error: null,
          updated_at: 0,
        })
        .execute();
    }
  });
  afterEach(async () => {
    await site.close();
  });

  const step = (v: RebuildView, key: string) => v.steps.find((s) => s.step === key);
  const counts = async () => ({
    rebuilds: (await site.db.selectFrom('rebuilds').selectAll().execute()).length,
    steps: (await site.db.selectFrom('rebuild_steps').selectAll().execute()).length,
    token: (
      await site.db
        .selectFrom('sites')
        .select('join_token_hash')
        .where('code', '=', 'S02')
        .executeTakeFirstOrThrow()
    ).join_token_hash,
  });
  /** The new host registers at the parent, as the join's takeover leaves it. */
  async function newHostJoins() {
    now += 1000;
    await site.db
      .updateTable('sites')
      .set({ generation: 'new-gen', state: 'active', join_token_hash: null })
      .where('code', '=', 'S02')
      .execute();
    await site.db.updateTable('package_status').set({ state: 'Install Pending' }).execute();
    await site.db
      .insertInto('site_phases')
      .values({ site_code: 'S02', name: 'registration', state: 'done', at: now, error: null })
      .execute();
  }
  async function job(id: string, pkg: string, state: 'completed' | 'pending', bytes: number) {
    await site.db
      .insertInto('jobs')
      .values({
        id,
        site_code: 'S02',
        kind: 'package',
        package_id: pkg,
        source_version: 1,
        subject: null,
        dps: '["S02"]',
        state,
        bytes_sent: bytes,
        bytes_total: bytes,
        attempts: state === 'completed' ? 1 : 0,
        last_error: null,
        lease_owner: null,
        lease_expires_at: null,
        next_attempt_at: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }

  it('plans without changing anything: the steps, what the new host lacks after the preload, and how long at the rate limit', async () => {
    const plan = await planOf(ctx, 'S02', { exportTo: '/mnt/disk/s02' });
    expect(plan.steps.map((s) => s.step)).toEqual([
      'export',
      'replace',
      'join',
      'preload',
      'verify',
      'followup',
    ]);
    expect(plan.steps.map((s) => s.frame)).toEqual([
      'before shipping',
      'hardware arrived',
      'hardware arrived',
      'after reinstall',
      'after reinstall',
      'follow-up',
    ]);
    expect(plan).toMatchObject({
      packages: 2,
      bytesWanted: 4 * MiB,
      bytesFromPreload: 3 * MiB,
      bytesLacking: 1 * MiB,
      lacking: [{ package: 'C0100002', bytes: MiB }],
      rate: { limitBytesPerSecond: 512 * 1024, basis: 'rate limit' },
      seconds: 2,
      oldGeneration: 'old-gen',
    });
    const none = await planOf(ctx, 'S02', { path: 'readd' });
    expect(none.steps.map((s) => s.step)).toEqual([
      'delete',
      'add',
      'join',
      'reassign',
      'verify',
      'followup',
    ]);
    expect(none.bytesLacking).toBe(4 * MiB);
    expect(await counts()).toEqual({ rebuilds: 0, steps: 0, token: null });
  });

  it('runs from start to done: manual steps wait, checkable ones complete by themselves, each transition said', async () => {
    let v = await startRebuild(ctx, 'S02', { exportTo: '/mnt/disk/s02' });
    expect(v.state).toBe('running');
    expect(step(v, 'export')).toMatchObject({ state: 'waiting', kind: 'manual' });
    expect(v.next).toContain('outpost content export --dp S02 --out /mnt/disk/s02');
    expect(step(v, 'replace')?.state).toBe('pending');
    expect((await counts()).token).toBeNull();

    v = await resumeRebuild(ctx, 'S02', ['export']);
    expect(step(v, 'export')?.state).toBe('done');
    expect(step(v, 'replace')).toMatchObject({ state: 'done' });
    expect(step(v, 'join')?.state).toBe('waiting');
    expect(v.next).toMatch(/outpost site join --data DIR --parent http:\/\/127\.0\.0\.1:8470 --token S02\./);
    expect((await counts()).token).not.toBeNull();
    const token = v.joinToken ?? '';
    expect(token).toMatch(/^S02\./);
    // Content for a new host is held; the old generation is still served.
    const address = await site.db.selectFrom('addresses').selectAll().executeTakeFirstOrThrow();
    expect(address.hold_generation).toBe('old-gen');

    // A status with nothing new changes nothing.
    expect(step(await rebuildStatus(ctx, 'S02'), 'join')?.state).toBe('waiting');
    await newHostJoins();
    v = await rebuildStatus(ctx, 'S02');
    expect(step(v, 'join')).toMatchObject({ state: 'done' });
    expect(step(v, 'preload')?.state).toBe('waiting');
    expect(v.next).toContain('outpost content preload --dir /mnt/disk/s02');

    v = await resumeRebuild(ctx, 'S02', ['preload']);
    // Released; the parent has not offered the new host its packages yet.
    expect(
      (await site.db.selectFrom('addresses').selectAll().executeTakeFirstOrThrow()).hold_generation,
    ).toBeNull();
    expect(step(v, 'verify')).toMatchObject({ state: 'running' });
    expect(step(v, 'verify')?.detail).toContain('2 more offers');
    await job('j1', 'C0100001', 'completed', 0);
    await job('j2', 'C0100002', 'completed', MiB);
    v = await rebuildStatus(ctx, 'S02');
    expect(step(v, 'verify')).toMatchObject({ state: 'done' });
    expect(step(v, 'verify')?.detail).toContain('nothing it held was sent again');
    expect(step(v, 'followup')?.state).toBe('running');
    expect(step(v, 'followup')?.detail).toContain('C0100002 on S02');

    const check = await checkRebuild(ctx, 'S02');
    expect(check.notInstalled.map((r) => r.package)).toEqual(['C0100001', 'C0100002']);
    await site.db.updateTable('package_status').set({ state: 'Installed' }).execute();
    v = await rebuildStatus(ctx, 'S02');
    expect(v.state).toBe('done');
    expect(v.steps.every((s) => s.state === 'done' && s.startedAt !== null && s.finishedAt !== null)).toBe(
      true,
    );

    const texts = (
      await site.db.selectFrom('status_messages').select('text').where('component', '=', 'rebuild').execute()
    ).map((m) => m.text);
    for (const key of ['export', 'replace', 'join', 'preload', 'verify', 'followup'])
      expect(texts.some((t) => t.includes(`step ${key} `))).toBe(true);
    expect(texts).toContain('rebuild of S02 done: every step is done');
    // The token is a credential: status shows it, messages (which travel up) do not.
    expect(texts.some((t) => t.includes('step join waits'))).toBe(true);
    expect(texts.some((t) => t.includes(token))).toBe(false);
  });

  it('a step found running after a crash runs again, and safely', async () => {
    const v = await startRebuild(ctx, 'S02', {});
    // No manual step before the join: the token is issued at once.
    expect(step(v, 'replace')?.state).toBe('done');
    // As if the parent had stopped inside the replace step: it is running, the token lost.
    await site.db
      .updateTable('rebuild_steps')
      .set({ state: 'running', output: null })
      .where('step', '=', 'replace')
      .execute();
    await site.db.updateTable('rebuild_steps').set({ state: 'pending' }).where('step', '=', 'join').execute();
    const before = (await counts()).token;
    const again = await resumeRebuild(ctx, 'S02');
    expect(step(again, 'replace')?.state).toBe('done');
    expect(step(again, 'join')?.state).toBe('waiting');
    // A new token (the lost one no longer works), and only one rebuild.
    expect((await counts()).token).not.toBe(before);
    expect((await counts()).rebuilds).toBe(1);
    // Once the new host has joined, running the replace step again issues nothing.
    await newHostJoins();
    await site.db
      .updateTable('rebuild_steps')
      .set({ state: 'running' })
      .where('step', '=', 'replace')
      .execute();
    await site.db.updateTable('rebuild_steps').set({ state: 'pending' }).where('step', '=', 'join').execute();
    const after = await resumeRebuild(ctx, 'S02');
    expect(step(after, 'replace')?.detail).toContain('joined already');
    expect((await counts()).token).toBeNull();
  });

  it('a join token that expired unused is issued again, for replace and for readd', async () => {
    for (const path of ['replace', 'readd'] as const) {
      const first = await startRebuild(ctx, 'S02', { path, joinDeadline: '1h' });
      expect(first.joinToken).toMatch(/^S02\./);
      now += 30 * 60_000;
      expect((await rebuildStatus(ctx, 'S02')).joinToken).toBe(first.joinToken);
      now += 31 * 60_000;
      const later = await rebuildStatus(ctx, 'S02');
      expect(step(later, 'join')?.state).toBe('waiting');
      expect(later.joinToken).toMatch(/^S02\./);
      expect(later.joinToken).not.toBe(first.joinToken);
      expect(later.next).toContain(`--token ${later.joinToken}`);
      const row = await site.db
        .selectFrom('sites')
        .selectAll()
        .where('code', '=', 'S02')
        .executeTakeFirstOrThrow();
      expect(row.join_expires_at).toBe(now + 3_600_000);
      await abortRebuild(ctx, 'S02');
    }
  });

  it('verify fails when the new host lacked more than planned, and resume --done goes on', async () => {
    await startRebuild(ctx, 'S02', { preloadFrom: '/mnt/old' });
    await resumeRebuild(ctx, 'S02', ['copy']);
    await newHostJoins();
    await job('j1', 'C0100001', 'completed', 3 * MiB);
    await job('j2', 'C0100002', 'completed', MiB);
    let v = await resumeRebuild(ctx, 'S02', ['preload']);
    expect(step(v, 'verify')).toMatchObject({ state: 'failed' });
    expect(step(v, 'verify')?.error).toContain('C0100001 (3.0 MiB)');
    expect(v.next).toContain('--done verify');
    // Resume runs it again (the same answer); --done accepts it.
    v = await resumeRebuild(ctx, 'S02');
    expect(step(v, 'verify')?.state).toBe('failed');
    v = await resumeRebuild(ctx, 'S02', ['verify']);
    expect(step(v, 'verify')?.state).toBe('done');
    expect(step(v, 'followup')?.state).toBe('running');
  });

  it('refuses bad input and changes nothing: unknown site, a second rebuild, abort or resume of none, a step not waiting', async () => {
    await expect(startRebuild(ctx, 'Q42', {})).rejects.toMatchObject({ code: 'OUTPOST_SITE_NOT_FOUND' });
    await expect(startRebuild(ctx, 's2', {})).rejects.toMatchObject({ code: 'OUTPOST_BAD_SITE_CODE' });
    await insertChildSite(site.db, { code: 'S03', relation: 'descendant', parent_code: 'P01' });
    await expect(startRebuild(ctx, 'S03', {})).rejects.toMatchObject({ code: 'OUTPOST_WRONG_PARENT' });
    for (const bad of [
      { path: 'move' },
      { preloadFrom: 'relative/dir' },
      { preloadFromDp: 'ftp://x' },
      { preloadFromDp: 'http://s03:8471', exportTo: '/mnt/x' },
      { cloneFrom: 'nope!' },
      { joinDeadline: 'soon' },
    ])
      await expect(startRebuild(ctx, 'S02', bad)).rejects.toMatchObject({ kind: 'bad-input' });
    await expect(abortRebuild(ctx, 'S02')).rejects.toMatchObject({ code: 'OUTPOST_NOT_FOUND' });
    await expect(resumeRebuild(ctx, 'S02')).rejects.toMatchObject({ code: 'OUTPOST_NOT_FOUND' });
    await expect(rebuildStatus(ctx, 'S02')).rejects.toMatchObject({ code: 'OUTPOST_NOT_FOUND' });
    expect(await counts()).toEqual({ rebuilds: 0, steps: 0, token: null });

    await startRebuild(ctx, 'S02', { exportTo: '/mnt/x' });
    const before = await counts();
    await expect(startRebuild(ctx, 'S02', {})).rejects.toMatchObject({ code: 'OUTPOST_REBUILD_RUNNING' });
    await expect(resumeRebuild(ctx, 'S02', ['join'])).rejects.toMatchObject({ code: 'OUTPOST_BAD_INPUT' });
    await expect(resumeRebuild(ctx, 'S02', ['nothing'])).rejects.toMatchObject({ code: 'OUTPOST_BAD_INPUT' });
    expect(await counts()).toEqual(before);
    expect(step(await rebuildStatus(ctx, 'S02'), 'export')?.state).toBe('waiting');
  });

  it('abort releases held content and withdraws an unused join token; the old host stays', async () => {
    await startRebuild(ctx, 'S02', { preloadFromDp: 'http://s03:8471' });
    expect((await counts()).token).not.toBeNull();
    const v = await abortRebuild(ctx, 'S02');
    expect(v.state).toBe('aborted');
    expect(v.next).toBeNull();
    expect(await counts()).toMatchObject({ token: null });
    expect(
      (await site.db.selectFrom('addresses').selectAll().executeTakeFirstOrThrow()).hold_generation,
    ).toBeNull();
    const row = await site.db
      .selectFrom('sites')
      .selectAll()
      .where('code', '=', 'S02')
      .executeTakeFirstOrThrow();
    expect([row.state, row.generation]).toEqual(['active', 'old-gen']);
    // A new one may start now.
    expect((await startRebuild(ctx, 'S02', {})).state).toBe('running');
  });

  it('every step transition is one guarded statement: only from the states it names, only while running', async () => {
    const v = await startRebuild(ctx, 'S02', { exportTo: '/mnt/x' });
    const { id } = v;
    const state = async (key: string) => (await stepsOf(site.db, id)).find((s) => s.step === key)?.state;
    // replace is pending: it cannot finish, fail, be retried or confirmed before it begins.
    expect(await finishStep(site.db, id, 'replace', now, 'x')).toBe(false);
    expect(await failStep(site.db, id, 'replace', now, 'x')).toBe(false);
    expect(await retryStep(site.db, id, 'replace')).toBe(false);
    expect(await confirmStep(site.db, id, 'replace', now, 'x')).toBe(false);
    expect(await beginStep(site.db, id, 'replace', now)).toBe(true);
    expect(await beginStep(site.db, id, 'replace', now)).toBe(false);
    expect(await failStep(site.db, id, 'replace', now, 'boom')).toBe(true);
    expect(await failStep(site.db, id, 'replace', now, 'boom')).toBe(false);
    expect(await retryStep(site.db, id, 'replace')).toBe(true);
    expect(await state('replace')).toBe('pending');
    // A waiting step may be confirmed once.
    expect(await confirmStep(site.db, id, 'export', now, 'x')).toBe(true);
    expect(await confirmStep(site.db, id, 'export', now, 'x')).toBe(false);
    expect(await waitStep(site.db, id, 'export', 'd', 'n')).toBe(false);
    await abortRebuild(ctx, 'S02');
    // Nothing moves in an aborted rebuild.
    expect(await beginStep(site.db, id, 'replace', now)).toBe(false);
    expect(await state('replace')).toBe('pending');
  });

  it('readd deletes the site, adds it again with its address settings, and assigns its packages again after the preload', async () => {
    let v = await startRebuild(ctx, 'S02', { path: 'readd', preloadFrom: '/mnt/old' });
    v = await resumeRebuild(ctx, 'S02', ['copy']);
    expect(step(v, 'delete')?.state).toBe('done');
    expect(step(v, 'add')?.state).toBe('done');
    expect(step(v, 'join')?.state).toBe('waiting');
    const row = await site.db
      .selectFrom('sites')
      .selectAll()
      .where('code', '=', 'S02')
      .executeTakeFirstOrThrow();
    expect([row.state, row.join_token_hash !== null]).toEqual(['pending', true]);
    const address = await site.db.selectFrom('addresses').selectAll().executeTakeFirstOrThrow();
    expect(address.rate_limit_kbps).toBe(512);
    expect(await site.db.selectFrom('assignments').selectAll().execute()).toEqual([]);
    await newHostJoins();
    v = await resumeRebuild(ctx, 'S02', ['preload']);
    expect(step(v, 'reassign')?.detail).toContain('2 packages assigned to S02 again');
    expect(
      (await site.db.selectFrom('assignments').select('package_id').execute())
        .map((a) => a.package_id)
        .sort(),
    ).toEqual(['C0100001', 'C0100002']);
    expect(step(v, 'verify')?.state).toBe('running');
  });
});
