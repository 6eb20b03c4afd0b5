import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { FileContentStore } from '../content/index.js';
import { createMetrics, TransferRegistry, Wake } from '../core/index.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import { claimJob, createJob, listJobs } from '../jobs/index.js';
import { createLoggers } from '../logs/index.js';
import { generateSiteKeys, loadSiteKeys } from '../s2s/index.js';
import { listMessages, listPackageStatus, setPackageStatus } from '../status/index.js';
import { JobSender } from './sender.js';

const PKG = 'C0100001';

describe('sender failures', () => {
  let site: SiteDb;
  let now = 1_000_000;
  let sender: JobSender;

  beforeEach(async () => {
    const dir = tempDir('sender');
    site = await openDatabase({ kind: 'sqlite', file: join(dir, 'db') });
    const clock = { now: () => now };
    sender = new JobSender(
      {
        clock,
        db: site.db,
        identity: {
          site: 'C01',
          generation: 'g1',
          keys: loadSiteKeys(generateSiteKeys().privateKeyPem),
          clock,
        },
        log: createLoggers(join(dir, 'logs'), 'C01').log,
        metrics: createMetrics(),
        sink: { site: 'C01', hasParent: false },
        store: new FileContentStore(join(dir, 'content')),
        transfers: new TransferRegistry(),
        wake: new Wake(),
      },
      { owner: 'test-sender', host: 'test', pid: 1 },
      60_000,
    );
    await insertChildSite(site.db, { type: 'primary' });
  });
  afterEach(async () => {
    await sender.drain();
    await site.close();
  });

  async function address(retries: number, url = 'http://127.0.0.1:1') {
    await site.db
      .insertInto('addresses')
      .values({
        site_code: 'S02',
        url,
        rate_limit_kbps: null,
        schedule: null,
        concurrency: 1,
        retries,
        retry_delay_ms: 60_000,
        updated_at: 0,
      })
      .execute();
  }
  const packageJob = () =>
    createJob(site.db, { site: 'S02', kind: 'package', package: PKG, sourceVersion: 1, dps: ['S02'] }, now);
  const statusOf = async () => (await listPackageStatus(site.db, { package: PKG }))[0];

  it('a job whose sender died mid-job too often ends failed, and its DPs Install Failed', async () => {
    await address(1);
    // The site is not sendable, so this sender starts nothing itself and only reclaims.
    await site.db.updateTable('sites').set({ state: 'failed' }).execute();
    const id = await packageJob();
    // Each time it is claimed by a sender that then dies without a word.
    expect(await claimJob(site.db, id, 'dead-1', 60_000, now)).toBeDefined();
    now += 60_001;
    await sender.tick();
    expect((await listJobs(site.db, {}))[0]).toMatchObject({ state: 'retrying', attempts: 1 });
    expect(await claimJob(site.db, id, 'dead-2', 60_000, now)).toBeDefined();
    now += 60_001;
    await sender.tick();
    expect((await listJobs(site.db, {}))[0]).toMatchObject({ state: 'failed', attempts: 2 });
    expect(await statusOf()).toMatchObject({
      state: 'Install Failed',
      error: 'sender stopped mid-job (attempt 2 of 2)',
    });
    const messages = await listMessages(site.db, { component: 'sender' });
    expect(messages.map((m) => m.text)).toEqual([
      'job to S02 failed after 2 attempts: sender stopped mid-job (attempt 2 of 2)',
    ]);
  });
  it('a permanent error (the package is not known) fails the job at the first attempt', async () => {
    await address(5);
    await packageJob();
    await sender.tick();
    await sender.drain();
    expect((await listJobs(site.db, {}))[0]).toMatchObject({ state: 'failed', attempts: 1 });
    expect(await statusOf()).toMatchObject({
      state: 'Install Failed',
      error: `package ${PKG} is not known here`,
    });
  });

  it('a transient error (the child cannot be reached) retries', async () => {
    await address(5);
    await site.db
      .insertInto('packages')
      .values({
        id: PKG,
        name: 'P',
        source_version: 1,
        origin_site: 'C01',
        source_path: null,
        complete_version: 1,
        created_at: 0,
        updated_at: 0,
      })
      .execute();
    await packageJob();
    await sender.tick();
    await sender.drain();
    expect((await listJobs(site.db, {}))[0]).toMatchObject({ state: 'retrying', attempts: 1 });
    expect(await statusOf()).toMatchObject({
      state: 'Install Retrying',
      error: expect.stringMatching(/cannot reach/),
    });
  });

  it('an unassign the child answers with held: false clears the statuses kept for the DPs below it', async () => {
    // A child at which the package never completed (its disk filled up) says so.
    const child = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ok: true, held: false }));
      });
    });
    await new Promise<void>((listening) => child.listen(0, '127.0.0.1', listening));
    try {
      await address(0, `http://127.0.0.1:${(child.address() as AddressInfo).port}`);
      await insertChildSite(site.db, { code: 'S03', relation: 'descendant', parent_code: 'S02' });
      await insertChildSite(site.db, { code: 'S05', relation: 'descendant', parent_code: 'S02' });
      await insertChildSite(site.db, { code: 'S04' });
      const states = {
        S02: 'Install Failed',
        S03: 'Removal Pending',
        S04: 'Install Failed',
        S05: 'Installed',
      };
      for (const [dp, state] of Object.entries(states)) {
        await setPackageStatus(
          site.db,
          { site: 'C01', hasParent: false },
          {
            package: PKG,
            sourceVersion: 1,
            site: dp,
            dp,
            state: state as 'Installed',
            error: null,
            updatedAt: now,
          },
        );
      }
      // Assigned again meanwhile: its status is the new assignment's, not the old one's.
      await site.db
        .insertInto('assignments')
        .values({ package_id: PKG, dp: 'S05', site_code: 'S05', created_at: now })
        .execute();
      const gaveUp = await packageJob();
      await site.db
        .updateTable('jobs')
        .set({ state: 'failed', attempts: 1 })
        .where('id', '=', gaveUp)
        .execute();
      await createJob(
        site.db,
        { site: 'S02', kind: 'unassign', package: PKG, sourceVersion: null, dps: [] },
        now,
      );
      now += 1;
      await sender.tick();
      await sender.drain();
      expect((await listJobs(site.db, {})).map((j) => [j.kind, j.state])).toEqual([
        ['unassign', 'completed'],
      ]);
      // S04 is under another child; S05 is assigned.
      expect((await listPackageStatus(site.db, { package: PKG })).map((r) => r.dp).sort()).toEqual([
        'S04',
        'S05',
      ]);
    } finally {
      await new Promise((closed) => child.close(closed));
    }
  });
});
