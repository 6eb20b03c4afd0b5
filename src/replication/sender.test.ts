import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insertChildSite, packageRow } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { FileContentStore } from '../content/index.js';
import { createMetrics, TransferRegistry, Wake } from '../core/index.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import { claimJob, createJob, listJobs } from '../jobs/index.js';
import { createLoggers } from '../logs/index.js';
import { generateSiteKeys, HEADER, loadSiteKeys, NDJSON, sha256Hex } from '../s2s/index.js';
import { listMessages, listPackageStatus, setPackageStatus } from '../status/index.js';
import { JobSender } from './sender.js';

const PKG = 'C0100001';

describe('sender failures', () => {
  let site: SiteDb;
  let now = 1_000_000;
  let sender: JobSender;
  let dir: string;

  beforeEach(async () => {
    dir = tempDir('sender');
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
  const insertPackage = () =>
    site.db
      .insertInto('packages')
      .values({ ...packageRow(PKG), name: 'P' })
      .execute();
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
    await insertPackage();
    await packageJob();
    await sender.tick();
    await sender.drain();
    expect((await listJobs(site.db, {}))[0]).toMatchObject({ state: 'retrying', attempts: 1 });
    expect(await statusOf()).toMatchObject({
      state: 'Install Retrying',
      error: expect.stringMatching(/cannot reach/),
    });
    // The log line names this site and the child apart, and says what the attempt moved.
    const logged = readFileSync(join(dir, 'logs', 'sender.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        site: 'C01',
        peer: 'S02',
        state: 'retrying',
        bytes: 0,
        durationMs: 0,
        bytesPerSecond: 0,
        msg: 'job attempt failed after 0 B in 0.0s at 0 B/s',
      }),
    );
  });

  it('streams the offer as its signed NDJSON, and retries when the answer is cut short', async () => {
    const chunk = 'a'.repeat(64);
    let offered = { body: '', declared: '', type: '' };
    // A child that reads the offer, then answers with a chunk line but never the last line.
    const child = createServer((req, res) => {
      const pieces: Buffer[] = [];
      req.on('data', (d: Buffer) => pieces.push(d));
      req.on('end', () => {
        offered = {
          body: Buffer.concat(pieces).toString(),
          declared: String(req.headers[HEADER.bodySha]),
          type: String(req.headers['content-type']),
        };
        res.setHeader('content-type', NDJSON);
        res.end(`${JSON.stringify({ missing: chunk })}\n`);
      });
    });
    await new Promise<void>((listening) => child.listen(0, '127.0.0.1', listening));
    try {
      await address(5, `http://127.0.0.1:${(child.address() as AddressInfo).port}`);
      await insertPackage();
      const file = { path: 'a.txt', size: 5, sha256: chunk, chunks: [[chunk, 5]] };
      await site.db
        .insertInto('package_files')
        .values({ package_id: PKG, source_version: 1, ...file, chunks: JSON.stringify(file.chunks) })
        .execute();
      const id = await packageJob();
      await sender.tick();
      await sender.drain();
      expect(offered.type).toBe(NDJSON);
      expect(offered.declared).toBe(sha256Hex(offered.body));
      expect(offered.body.split('\n').map((l) => (l ? JSON.parse(l) : l))).toEqual([
        { job: id, id: PKG, name: 'P', sourceVersion: 1, origin: 'C01', files: 1 },
        file,
        '',
      ]);
      expect((await listJobs(site.db, {}))[0]).toMatchObject({
        state: 'retrying',
        attempts: 1,
        lastError: expect.stringMatching(/S02 answered the offer unreadably: it was cut short/),
      });
    } finally {
      await new Promise((closed) => child.close(closed));
    }
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
