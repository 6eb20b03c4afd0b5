import { join } from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { type Database, type DatabaseConfig, dropDp, dropSiteContent, openDatabase } from '../db/index.js';
import type { PackageState, PackageStatus } from './model.js';
import { countPackageStatus, foldPackageStatusCounts } from './queries.js';
import { setPackageStatus, setPackageStatuses } from './store.js';

const PG_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];

function configFor(kind: 'sqlite' | 'postgres'): DatabaseConfig {
  if (kind === 'sqlite') return { kind, file: join(tempDir('counts'), 'db') };
  const schema = `t_counts_${process.pid}_${schemas.length}`;
  schemas.push(schema);
  return { kind, url: PG_URL, schema };
}

afterAll(async () => {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas) await client.query(`drop schema if exists ${s} cascade`);
  await client.end();
});

/** The counts as the summary reads them, and as counting the rows themselves finds them. */
async function bothCounts(db: Kysely<Database>) {
  const kept = await countPackageStatus(db);
  const rows = await db
    .selectFrom('package_status')
    .select(['site_code', 'state', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['site_code', 'state'])
    .execute();
  const counted = new Map<string, Map<PackageState, number>>();
  for (const r of rows) {
    const m = counted.get(r.site_code) ?? new Map<PackageState, number>();
    m.set(r.state as PackageState, Number(r.n));
    counted.set(r.site_code, m);
  }
  return { kept, counted };
}

const SITES = ['S02', 'S03', 'S04'];
const STATES: PackageState[] = ['Install Pending', 'Installed', 'Install Retrying', 'Install Failed'];

/**
 * A deterministic mix of (package, DP) statuses, packages numbered from `first`: each package has
 * its DP whatever the seed, so another `seed` changes the states of the same rows (and adds rows
 * where `count` is larger).
 */
function mix(seed: number, count: number, at: number, first = 0): PackageStatus[] {
  return Array.from({ length: count }, (_, j) => {
    const i = first + j;
    const site = SITES[(i * 7) % SITES.length];
    return {
      package: `C01${i.toString().padStart(5, '0')}`,
      sourceVersion: 1,
      site,
      dp: i % 3 === 0 ? `${site}/DP2` : site,
      state: STATES[(i * 5 + seed * 3) % STATES.length],
      error: null,
      updatedAt: at + i,
    };
  });
}

const sink = { site: 'C01', hasParent: false };

describe.each(['sqlite', 'postgres'] as const)('package status counts on %s', (kind) => {
  it('stay equal to counting the rows through every kind of change', async () => {
    const { db, close } = await openDatabase(configFor(kind));
    try {
      const check = async (label: string) => {
        const { kept, counted } = await bothCounts(db);
        expect(kept, label).toEqual(counted);
      };
      // A batch (the dp clone path), then the same keys again with other states: upserts.
      await setPackageStatuses(db, sink, mix(0, 120, 1000));
      await check('batch insert');
      await setPackageStatuses(db, sink, mix(1, 150, 2000));
      await check('batch upsert');
      // One at a time, as replication and reports do: new rows, changed states, the same state again.
      for (const s of mix(2, 180, 3000)) await setPackageStatus(db, sink, s);
      await check('single changes');
      for (const s of mix(2, 30, 4000)) await setPackageStatus(db, sink, s);
      await check('same states, newer times');
      // A DP's status moved to another site's code (a report may correct it).
      await db.updateTable('package_status').set({ site_code: 'S05' }).where('dp', '=', 'S03').execute();
      await check('site changed');
      // Removals reported from below, in one transaction as statmgr applies a batch of reports.
      await db.transaction().execute(async (trx) => {
        for (const s of mix(2, 20, 5000)) await setPackageStatus(trx, sink, { ...s, state: 'Removed' });
      });
      await check('removed');
      // A rolled-back change leaves the counts as they were.
      await db
        .transaction()
        .execute(async (trx) => {
          await setPackageStatuses(trx, sink, mix(3, 60, 6000));
          throw new Error('roll back');
        })
        .catch(() => {});
      await check('rolled back');
      await dropDp(db, 'S04/DP2');
      await check('DP dropped');
      await dropSiteContent(db, 'S02');
      await check('site dropped');
      expect((await countPackageStatus(db)).has('S02')).toBe(false);
      // Nothing left: no counter rows left either, not even zeros.
      await db.deleteFrom('package_status').execute();
      await check('all gone');
      expect(await countPackageStatus(db, 0)).toEqual(new Map());
      expect(await db.selectFrom('package_status_counts').selectAll().execute()).toEqual([]);
    } finally {
      await close();
    }
  });

  it.runIf(kind === 'postgres')(
    'stay exact when two processes change the same sites’ states at once, without a deadlock',
    async () => {
      const config = configFor(kind);
      const a = await openDatabase(config);
      const b = await openDatabase(config);
      try {
        await setPackageStatuses(a.db, sink, mix(0, 200, 1000));
        // Each writer has its own packages (no status row is written by both) and moves them
        // between the same sites' states in transactions of several changes: the pattern that
        // would lock two sites' counters in opposite orders.
        const writer = (db: Kysely<Database>, seed: number) =>
          Promise.all(
            Array.from({ length: 20 }, (_, t) =>
              db.transaction().execute(async (trx) => {
                for (const s of mix(
                  seed + t,
                  10,
                  10_000 * (seed + 1) + t * 100,
                  seed * 100 + (t % 10) * 10,
                )) {
                  await setPackageStatus(trx, sink, s);
                }
              }),
            ),
          );
        await Promise.all([writer(a.db, 1), writer(b.db, 2)]);
        const { kept, counted } = await bothCounts(a.db);
        expect(kept).toEqual(counted);
        // The change rows fold into one per (site, state), and the counts stay what they were.
        const rows = async () =>
          (await a.db.selectFrom('package_status_counts').selectAll().execute()).length;
        const folded = [...counted.values()].reduce((n, m) => n + m.size, 0);
        expect(await rows()).toBeGreaterThan(40);
        expect(await countPackageStatus(a.db, 0)).toEqual(counted);
        expect(await rows()).toBe(folded);
        expect(await countPackageStatus(a.db)).toEqual(counted);
        // Without a reader, the server's minute fold does the same; folded, there is nothing to do.
        await writer(a.db, 3);
        const { counted: after } = await bothCounts(a.db);
        expect(await rows()).toBeGreaterThan(folded);
        expect(await foldPackageStatusCounts(a.db, 10_000)).toBe(false);
        expect(await foldPackageStatusCounts(a.db, 0)).toBe(true);
        expect(await rows()).toBe([...after.values()].reduce((n, m) => n + m.size, 0));
        expect(await countPackageStatus(a.db)).toEqual(after);
        expect(await foldPackageStatusCounts(a.db, 0)).toBe(false);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});
