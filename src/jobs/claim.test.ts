import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { insertAddress } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { type DatabaseConfig, openDatabase, type SiteDb } from '../db/index.js';
import { claimNext, createJob, Leadership } from './index.js';

const PG_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const LEASE = 60_000;
const schemas: string[] = [];

/** A site database on `kind`, and for PostgreSQL a second process's connection pool to the same schema. */
async function twoProcesses(kind: 'sqlite' | 'postgres'): Promise<[SiteDb, SiteDb]> {
  let config: DatabaseConfig;
  if (kind === 'sqlite') {
    config = { kind, file: join(tempDir('claim'), 'db') };
  } else {
    const schema = `t_claim_${process.pid}_${schemas.length}`;
    schemas.push(schema);
    config = { kind, url: PG_URL, schema };
  }
  const one = await openDatabase(config);
  // SQLite has one writer: a second process of the site is the PostgreSQL case only.
  return [one, kind === 'postgres' ? await openDatabase(config) : one];
}

afterAll(async () => {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas) await client.query(`drop schema if exists ${s} cascade`);
  await client.end();
});

describe.each(['sqlite', 'postgres'] as const)('on %s', (kind) => {
  it('claimNext takes each due job once and never more than the link’s concurrency, across processes', async () => {
    const [a, b] = await twoProcesses(kind);
    try {
      await insertAddress(a.db);
      await a.db.updateTable('addresses').set({ concurrency: 3 }).execute();
      const ids: string[] = [];
      for (let i = 0; i < 10; i++)
        ids.push(
          await createJob(
            a.db,
            { site: 'S02', kind: 'package', package: `P${i}`, sourceVersion: 1, dps: ['S02'] },
            i,
          ),
        );
      const link = { site: 'S02', concurrency: 3 };
      const rowLocks = kind === 'postgres';
      // Twelve claimers at once, half of them another process: three jobs taken, each once, oldest first.
      const claims = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          claimNext(i % 2 ? b.db : a.db, link, `owner-${i}`, LEASE, 100, rowLocks),
        ),
      );
      const taken = claims.filter((j) => j !== undefined).map((j) => j.id);
      expect(taken.sort()).toEqual(ids.slice(0, 3).sort());
      // Nothing more while three run; once one completes, the next in line.
      expect(await claimNext(b.db, link, 'late', LEASE, 100, rowLocks)).toBeUndefined();
      await a.db.updateTable('jobs').set({ state: 'completed' }).where('id', '=', ids[0]).execute();
      expect((await claimNext(b.db, link, 'late', LEASE, 100, rowLocks))?.id).toBe(ids[3]);
      // Not due yet: not taken.
      await a.db.updateTable('jobs').set({ state: 'completed' }).where('id', 'in', ids.slice(1, 4)).execute();
      await a.db.updateTable('jobs').set({ next_attempt_at: 500 }).where('id', 'in', ids.slice(4)).execute();
      expect(await claimNext(a.db, link, 'early', LEASE, 100, rowLocks)).toBeUndefined();
    } finally {
      await a.close();
      if (b !== a) await b.close();
    }
  });

  it('a role is led by one process at a time; it passes on when the leader resigns or goes silent', async () => {
    const [a, b] = await twoProcesses(kind);
    try {
      const one = new Leadership(a.db, 'one', LEASE);
      const two = new Leadership(b.db, 'two', LEASE);
      const both = await Promise.all([one.lead('distmgr', 0), two.lead('distmgr', 0)]);
      expect(both.filter(Boolean)).toHaveLength(1);
      const [leader, other] = both[0] ? [one, two] : [two, one];
      expect(await other.lead('distmgr', 1_000)).toBe(false);
      expect(await other.lead('statmgr', 1_000)).toBe(true);
      // Renewed while it runs: still the leader after the first lease would have run out.
      expect(await leader.lead('distmgr', 40_000)).toBe(true);
      expect(await other.lead('distmgr', 70_000)).toBe(false);
      // Silent past its lease: taken over.
      expect(await other.lead('distmgr', 40_000 + LEASE + 1)).toBe(true);
      expect(await leader.lead('distmgr', 40_000 + LEASE + 2)).toBe(false);
      // A clean stop frees its roles at once.
      await other.resign();
      expect(await leader.lead('statmgr', 40_000 + LEASE + 3)).toBe(true);
    } finally {
      await a.close();
      if (b !== a) await b.close();
    }
  });
});

describe('on postgres, a claimer that holds the link', () => {
  it('makes another wait, which then counts the job the first took', async () => {
    const [a] = await twoProcesses('postgres');
    const raw = new pg.Client({
      connectionString: PG_URL,
      options: `-c search_path=${schemas[schemas.length - 1]}`,
    });
    await raw.connect();
    try {
      await insertAddress(a.db);
      const first = await createJob(
        a.db,
        { site: 'S02', kind: 'package', package: 'P1', sourceVersion: 1, dps: [] },
        0,
      );
      await createJob(a.db, { site: 'S02', kind: 'package', package: 'P2', sourceVersion: 1, dps: [] }, 1);
      // Another process in the middle of a claim: it holds the address row.
      await raw.query('begin');
      await raw.query("select site_code from addresses where site_code = 'S02' for update");
      let settled = false;
      const waiting = claimNext(a.db, { site: 'S02', concurrency: 1 }, 'a', LEASE, 100, true).finally(() => {
        settled = true;
      });
      // It waits for the lock (still waiting after the other claimer's next statement has run)...
      await raw.query("update jobs set state = 'active', lease_owner = 'raw' where id = $1", [first]);
      expect(settled).toBe(false);
      await raw.query('commit');
      // ...then sees the job the other process took: concurrency 1 is in use, nothing for it.
      expect(await waiting).toBeUndefined();
    } finally {
      await raw.end();
      await a.close();
    }
  });
});
