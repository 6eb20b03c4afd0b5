import { join } from 'node:path';
import type { KyselyPlugin, RootOperationNode } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { centralConfig, insertChildSite, packageRow } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { type Clock, systemClock } from '../common/index.js';
import { FileContentStore } from '../content/index.js';
import { TransferRegistry, Wake } from '../core/index.js';
import { type DatabaseConfig, openDatabase, type SiteDb } from '../db/index.js';
import { cancelJobs, completeJob, deleteJobs } from '../jobs/index.js';
import { createLoggers } from '../logs/index.js';
import { assignPackage, redistributePackage, unassignPackage } from './assign.js';
import { reconcile } from './distmgr.js';
import { readMarks } from './marks.js';

const PG_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];

afterAll(async () => {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const schema of schemas) await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
});

/** The tables each query of the database names, to see what a round read. */
function tablesTouched(): { plugin: KyselyPlugin; tables: Set<string> } {
  const tables = new Set<string>();
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as { kind?: string; table?: { identifier?: { name?: string } } };
    if (n.kind === 'TableNode' && n.table?.identifier?.name) tables.add(n.table.identifier.name);
    for (const value of Object.values(node)) walk(value);
  };
  return {
    tables,
    plugin: {
      transformQuery: (args: { node: RootOperationNode }) => {
        walk(args.node);
        return args.node;
      },
      transformResult: async (args) => args.result,
    },
  };
}

const backends: [string, () => DatabaseConfig][] = [
  ['sqlite', () => ({ kind: 'sqlite', file: join(tempDir('distmgr'), 'db') })],
  [
    'postgres',
    () => {
      const schema = `t_distmgr_${process.pid}_${schemas.length}_${Date.now()}`;
      schemas.push(schema);
      return { kind: 'postgres', url: PG_URL, schema };
    },
  ],
];

describe.each(backends)('distmgr working from what changed, on %s', (_name, config) => {
  let site: SiteDb;
  let opened: DatabaseConfig;
  let now = 1_000;
  const clock: Clock = { ...systemClock, now: () => now };
  const ctx = () => ({
    clock,
    config: centralConfig,
    db: site.db,
    log: createLoggers(tempDir('distmgr-logs'), 'C01').log,
    sink: { site: 'C01', hasParent: false },
    store: new FileContentStore(tempDir('distmgr-chunks')),
    transfers: new TransferRegistry(),
    wake: new Wake(),
  });
  /** A round of changes only, as the server runs between its full rounds. */
  const changed = async () => {
    now += 1_000;
    await reconcile(ctx(), 'changed');
  };
  const jobs = (pkg = 'C0100001') =>
    site.db
      .selectFrom('jobs')
      .select(['id', 'site_code', 'kind', 'source_version', 'dps', 'state'])
      .where('package_id', '=', pkg)
      .orderBy('site_code')
      .orderBy('created_at')
      .execute();
  /** Completes the open job to `child` of `pkg` as the sender would, with its delivery. */
  const deliver = async (child: string, pkg = 'C0100001') => {
    const job = await site.db
      .selectFrom('jobs')
      .selectAll()
      .where('site_code', '=', child)
      .where('package_id', '=', pkg)
      .where('state', '=', 'pending')
      .executeTakeFirstOrThrow();
    await site.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('jobs')
        .set({ state: 'active', lease_owner: 'sender' })
        .where('id', '=', job.id)
        .execute();
      await completeJob(trx, job.id, 'sender', now);
      await trx
        .insertInto('deliveries')
        .values({
          site_code: child,
          package_id: pkg,
          source_version: job.source_version ?? 0,
          dps: job.dps,
          updated_at: now,
        })
        .onConflict((oc) => oc.columns(['site_code', 'package_id']).doUpdateSet({ dps: job.dps }))
        .execute();
    });
  };

  beforeEach(async () => {
    opened = config();
    site = await openDatabase(opened);
    await insertChildSite(site.db);
    await insertChildSite(site.db, { code: 'S03' });
    await site.db
      .insertInto('packages')
      .values([packageRow('C0100001'), packageRow('C0100002')])
      .execute();
    // The server's first round is a full one; from here on, only what changed.
    await reconcile(ctx(), 'all');
    await changed();
    expect(await readMarks(site.db)).toEqual([]);
  });
  afterEach(async () => {
    await site.close();
  });

  it('reads nothing but the marks when nothing changed', async () => {
    const { plugin, tables } = tablesTouched();
    await reconcile({ ...ctx(), db: site.db.withPlugin(plugin) }, 'changed');
    expect([...tables]).toEqual(['distmgr_marks']);
  });

  it('makes the jobs of an assign, and nothing more the round after', async () => {
    await assignPackage(ctx(), 'C0100001', ['S02', 'S03']);
    await changed();
    expect((await jobs()).map((j) => [j.site_code, j.kind, j.dps])).toEqual([
      ['S02', 'package', '["S02"]'],
      ['S03', 'package', '["S03"]'],
    ]);
    // The round's own jobs left marks: the next round looks again and finds nothing to do.
    await changed();
    await changed();
    expect(await jobs()).toHaveLength(2);
    expect(await readMarks(site.db)).toEqual([]);
  });

  it('sends a new version once it completes here, and unassigns what is no longer assigned', async () => {
    await assignPackage(ctx(), 'C0100001', ['S02', 'S03']);
    await changed();
    await deliver('S02');
    await deliver('S03');
    await changed();
    expect((await jobs()).map((j) => j.state)).toEqual(['completed', 'completed']);

    // As an update imports it: the new version and its completion in one write.
    await site.db
      .updateTable('packages')
      .set({ source_version: 2, complete_version: 2 })
      .where('id', '=', 'C0100001')
      .execute();
    await changed();
    expect(
      (await jobs()).filter((j) => j.state === 'pending').map((j) => [j.site_code, j.source_version]),
    ).toEqual([
      ['S02', 2],
      ['S03', 2],
    ]);

    await deliver('S02');
    await unassignPackage(ctx(), 'C0100001', ['S02']);
    await changed();
    expect((await jobs()).filter((j) => j.state === 'pending').map((j) => [j.site_code, j.kind])).toEqual([
      ['S02', 'unassign'],
      ['S03', 'package'],
    ]);
  });

  it('makes a job again after a cancel, a delete or a redistribute', async () => {
    await assignPackage(ctx(), 'C0100001', ['S02']);
    await changed();
    await cancelJobs(site.db, { site: 'S02' }, 'test', now);
    await changed();
    expect((await jobs()).map((j) => j.state)).toEqual(['cancelled', 'pending']);

    await deleteJobs(site.db, { site: 'S02' });
    await changed();
    expect((await jobs()).map((j) => j.state)).toEqual(['pending']);

    await deliver('S02');
    await changed();
    expect((await jobs()).map((j) => j.state)).toEqual(['completed']);
    await redistributePackage(ctx(), 'C0100001', ['S02']);
    await changed();
    expect((await jobs()).map((j) => j.state)).toEqual(['completed', 'pending']);
  });

  it('routes through a site added below a child, and stops for a deleted child', async () => {
    // Assigned to S04's DP before S04's record arrives (it joins below S02 later).
    await site.db
      .insertInto('assignments')
      .values({ package_id: 'C0100002', dp: 'S04', site_code: 'S04', created_at: now })
      .execute();
    await changed();
    expect(await jobs('C0100002')).toEqual([]);
    await insertChildSite(site.db, { code: 'S04', relation: 'descendant', parent_code: 'S02' });
    await changed();
    expect((await jobs('C0100002')).map((j) => [j.site_code, j.dps])).toEqual([['S02', '["S04"]']]);

    await assignPackage(ctx(), 'C0100001', ['S03']);
    await site.db.updateTable('sites').set({ state: 'deleted' }).where('code', '=', 'S03').execute();
    await changed();
    expect(await jobs()).toEqual([]);
    await site.db.updateTable('sites').set({ state: 'active' }).where('code', '=', 'S03').execute();
    await changed();
    expect((await jobs()).map((j) => j.site_code)).toEqual(['S03']);
  });

  it('keeps a mark written while a round runs for the next round', async () => {
    // Another server process of the site, on its own connection.
    const other = await openDatabase(opened);
    let written = false;
    const { plugin, tables } = tablesTouched();
    const assignMeanwhile: KyselyPlugin = {
      transformQuery: plugin.transformQuery,
      async transformResult(args) {
        // Right after the round read the marks (another process of the site assigns).
        if (!written && tables.has('distmgr_marks')) {
          written = true;
          await assignPackage({ ...ctx(), db: other.db }, 'C0100002', ['S03']);
        }
        return args.result;
      },
    };
    await assignPackage(ctx(), 'C0100001', ['S02']);
    await reconcile({ ...ctx(), db: site.db.withPlugin(assignMeanwhile) }, 'changed');
    await other.close();
    expect(written).toBe(true);
    expect(await jobs('C0100002')).toEqual([]);
    await changed();
    expect((await jobs('C0100002')).map((j) => j.site_code)).toEqual(['S03']);
  });
});
