import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { Kysely, type KyselyPlugin, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insertAddress, insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { TransferRegistry } from '../core/index.js';
import { type Database, openDatabase, type SiteDb } from '../db/index.js';
import { claimJob, completeJob, createJob, listJobs } from '../jobs/index.js';
import { createLoggers } from '../logs/index.js';
import { scheduleChild } from './schedule.js';

describe('the scheduler of one child', () => {
  let site: SiteDb;
  let other: Kysely<Database>;
  let dir: string;

  beforeEach(async () => {
    dir = tempDir('schedule');
    site = await openDatabase({ kind: 'sqlite', file: join(dir, 'db') });
    // Another server process of the site, on its own connection.
    other = new Kysely<Database>({
      dialect: new SqliteDialect({ database: new BetterSqlite(join(dir, 'db')) }),
    });
    await insertChildSite(site.db);
    await insertAddress(site.db);
  });
  afterEach(async () => {
    await other.destroy();
    await site.close();
  });

  it('does not make again a job that completes between its reads (in another process)', async () => {
    const target = { version: 1, dps: ['S02'] };
    const job = {
      site: 'S02',
      kind: 'package' as const,
      package: 'C0100001',
      sourceVersion: 1,
      dps: ['S02'],
    };
    const id = await createJob(site.db, job, 0);
    await claimJob(site.db, id, 'sender', 60_000, 0);
    // The other process's sender completes the job, and records the delivery, right after the
    // scheduler's first read, whichever table that is.
    let completed = false;
    const completeAfterFirstRead: KyselyPlugin = {
      transformQuery: (args) => args.node,
      async transformResult(args) {
        if (!completed) {
          completed = true;
          await other.transaction().execute(async (trx) => {
            await completeJob(trx, id, 'sender', 1);
            await trx
              .insertInto('deliveries')
              .values({
                site_code: 'S02',
                package_id: 'C0100001',
                source_version: 1,
                dps: '["S02"]',
                updated_at: 1,
              })
              .execute();
          });
        }
        return args.result;
      },
    };
    const ctx = {
      db: site.db.withPlugin(completeAfterFirstRead),
      log: createLoggers(join(dir, 'logs'), 'C01').log,
      transfers: new TransferRegistry(),
    };
    await scheduleChild(ctx, 'S02', new Map([['C0100001', target]]), 2);
    expect(completed).toBe(true);
    expect((await listJobs(site.db, { site: 'S02' })).map((j) => j.state)).toEqual(['completed']);
  });
});
