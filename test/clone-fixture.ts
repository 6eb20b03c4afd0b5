import { join } from 'node:path';
import { systemClock } from '../src/common/index.js';
import { Wake } from '../src/core/index.js';
import { openDatabase, type SiteDb } from '../src/db/index.js';
import type { SiteConfig } from '../src/host/index.js';
import { insertAddress, insertChildSite, packageRow } from './sites.js';

/** A central site C01 with child S02 in a real SQLite database, for `dp clone` tests and benchmarks. */
export interface CloneFixture {
  ctx: {
    clock: typeof systemClock;
    config: SiteConfig;
    db: SiteDb['db'];
    sink: { site: string; hasParent: boolean };
    wake: Wake;
  };
  close(): Promise<void>;
}

const BATCH = 500;

/**
 * Opens C01's database in `dir` with child S02 and its named DP S02/lab, and `packages` packages of
 * C01 (one file of 1 KiB each) assigned to S02's default DP.
 */
export async function cloneFixture(dir: string, packages: number): Promise<CloneFixture> {
  const { db, close } = await openDatabase({ kind: 'sqlite', file: join(dir, 'site.db') });
  await insertChildSite(db);
  await insertAddress(db);
  await db
    .insertInto('dps')
    .values({ dp: 'S02/lab', site_code: 'S02', url: null, created_at: 0, updated_at: 0 })
    .execute();
  const ids = Array.from(
    { length: packages },
    (_, i) => `C01${i.toString(16).toUpperCase().padStart(5, '0')}`,
  );
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('packages').values(batch.map(packageRow)).execute();
      await trx
        .insertInto('package_files')
        .values(
          batch.map((id) => ({
            package_id: id,
            source_version: 1,
            path: 'a.bin',
            size: 1024,
            sha256: '0'.repeat(64),
            chunks: '[]',
          })),
        )
        .execute();
      await trx
        .insertInto('assignments')
        .values(batch.map((id) => ({ package_id: id, dp: 'S02', site_code: 'S02', created_at: 0 })))
        .execute();
    });
  }
  return {
    ctx: {
      clock: systemClock,
      config: {
        code: 'C01',
        type: 'central',
        name: 'C01',
        listen: '127.0.0.1:0',
        url: 'http://c01',
        generation: 'g-c01',
        parent: null,
        createdAt: 0,
      },
      db,
      sink: { site: 'C01', hasParent: false },
      wake: new Wake(),
    },
    close,
  };
}
