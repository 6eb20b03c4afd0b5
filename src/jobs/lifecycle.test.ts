import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insertAddress } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import {
  cancelJobs,
  claimJob,
  completeJob,
  createJob,
  deleteJobs,
  failJob,
  holdsJob,
  listJobs,
  progressJob,
  reclaimExpired,
  retryJobsNow,
} from './index.js';

const LEASE = 60_000;

describe('job lifecycle', () => {
  let site: SiteDb;
  let id: string;

  beforeEach(async () => {
    site = await openDatabase({ kind: 'sqlite', file: join(tempDir('jobs'), 'db') });
    await insertAddress(site.db);
    id = await createJob(
      site.db,
      { site: 'S02', kind: 'package', package: 'C0100001', sourceVersion: 1, dps: ['S02'] },
      0,
    );
  });
  afterEach(async () => {
    await site.close();
  });

  const job = async () => (await listJobs(site.db, {})).find((j) => j.id === id);
  const transient = { error: 'cannot reach', permanent: false, retries: 2, retryDelayMs: 1000 };

  it('a claim takes the job once and counts an attempt', async () => {
    const claimed = await claimJob(site.db, id, 'A', LEASE, 10);
    expect(claimed).toMatchObject({ state: 'active', attempts: 1, lease_owner: 'A' });
    expect(await claimJob(site.db, id, 'B', LEASE, 11)).toBeUndefined();
    expect(await holdsJob(site.db, id, 'A')).toBe(true);
    expect(await holdsJob(site.db, id, 'B')).toBe(false);
  });

  it('a job not yet due cannot be claimed', async () => {
    await claimJob(site.db, id, 'A', LEASE, 10);
    await failJob(site.db, id, 'A', transient, 20);
    expect(await claimJob(site.db, id, 'A', LEASE, 500)).toBeUndefined();
    expect(await claimJob(site.db, id, 'A', LEASE, 1020)).toMatchObject({ attempts: 2 });
  });

  it('a redistribute makes a job that waits to retry due at once', async () => {
    await claimJob(site.db, id, 'A', LEASE, 10);
    await failJob(site.db, id, 'A', transient, 20);
    await retryJobsNow(site.db, { site: 'S02', package: 'C0100002' }, 30);
    expect(await claimJob(site.db, id, 'A', LEASE, 30)).toBeUndefined();
    await retryJobsNow(site.db, { site: 'S02', package: 'C0100001' }, 30);
    expect(await claimJob(site.db, id, 'A', LEASE, 30)).toMatchObject({ state: 'active', attempts: 2 });
  });

  it('a write by a sender that does not hold the job changes nothing', async () => {
    await claimJob(site.db, id, 'A', LEASE, 10);
    const before = await job();
    expect(await progressJob(site.db, id, 'B', { sent: 5, total: 9 }, LEASE, 20)).toBe(false);
    expect(await completeJob(site.db, id, 'B', 20)).toBeUndefined();
    expect(await failJob(site.db, id, 'B', { ...transient, permanent: true }, 20)).toBeUndefined();
    expect(await job()).toEqual(before);

    expect(await progressJob(site.db, id, 'A', { sent: 5, total: 9 }, LEASE, 20)).toBe(true);
    expect(await job()).toMatchObject({ bytesSent: 5, bytesTotal: 9 });
    expect(await completeJob(site.db, id, 'A', 30)).toMatchObject({ state: 'completed', bytes_sent: 5 });
    expect(await job()).toMatchObject({ state: 'completed', attempts: 1 });
  });

  it('a cancelled or deleted job can no longer be progressed, completed or failed by its sender', async () => {
    await claimJob(site.db, id, 'A', LEASE, 10);
    expect(await cancelJobs(site.db, { site: 'S02', package: 'C0100001' }, 'superseded', 20)).toEqual([id]);
    expect(await cancelJobs(site.db, { site: 'S02' }, 'again', 21)).toEqual([]);
    expect(await progressJob(site.db, id, 'A', { sent: 5 }, LEASE, 30)).toBe(false);
    expect(await completeJob(site.db, id, 'A', 30)).toBeUndefined();
    expect(await failJob(site.db, id, 'A', transient, 30)).toBeUndefined();
    expect(await job()).toMatchObject({ state: 'cancelled', lastError: 'superseded' });
    expect(await deleteJobs(site.db, { site: 'S02' })).toEqual([id]);
    expect(await deleteJobs(site.db, { site: 'S02' })).toEqual([]);
  });

  it('a transient failure retries until the attempts allowed are used; a permanent one fails at once', async () => {
    // retries 2: three attempts in all, as before attempts were counted at the claim.
    for (const [attempt, state] of [
      [1, 'retrying'],
      [2, 'retrying'],
      [3, 'failed'],
    ] as const) {
      const now = attempt * 10_000;
      expect(await claimJob(site.db, id, 'A', LEASE, now)).toBeDefined();
      expect(await failJob(site.db, id, 'A', transient, now + 1)).toMatchObject({
        state,
        attempts: attempt,
        last_error: 'cannot reach',
        next_attempt_at: now + 1001,
      });
    }

    const other = await createJob(
      site.db,
      { site: 'S02', kind: 'unassign', package: 'C0100002', sourceVersion: 1, dps: [] },
      0,
    );
    await claimJob(site.db, other, 'A', LEASE, 10);
    expect(
      await failJob(site.db, other, 'A', { ...transient, error: 'not found', permanent: true }, 20),
    ).toMatchObject({ state: 'failed', attempts: 1, last_error: 'not found' });
  });

  it('a job whose sender keeps dying mid-job ends failed instead of retrying forever', async () => {
    let now = 0;
    for (let crash = 1; crash <= 3; crash++) {
      now += 1000;
      expect(await claimJob(site.db, id, `sender-${crash}`, LEASE, now)).toBeDefined();
      // The sender dies without a word; nothing happens until its lease runs out.
      expect(await reclaimExpired(site.db, now + LEASE - 1)).toEqual([]);
      expect((await job())?.state).toBe('active');
      now += LEASE + 1;
      const failed = await reclaimExpired(site.db, now);
      const after = await job();
      if (crash < 3) {
        expect(failed).toEqual([]);
        expect(after).toMatchObject({ state: 'retrying', attempts: crash });
      } else {
        expect(failed.map((j) => j.id)).toEqual([id]);
        expect(after).toMatchObject({
          state: 'failed',
          attempts: 3,
          lastError: 'sender stopped mid-job (attempt 3 of 3)',
        });
      }
    }
    expect(await claimJob(site.db, id, 'sender-4', LEASE, now + 1)).toBeUndefined();
  });

  it('a lease renewed by progress is not reclaimed', async () => {
    await claimJob(site.db, id, 'A', LEASE, 0);
    await progressJob(site.db, id, 'A', { sent: 1 }, LEASE, LEASE - 1);
    expect(await reclaimExpired(site.db, LEASE + 1)).toEqual([]);
    expect(await holdsJob(site.db, id, 'A')).toBe(true);
  });
});
