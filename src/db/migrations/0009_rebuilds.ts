import { type Kysely, type Migration, sql } from 'kysely';

/**
 * The rebuild runbook (`outpost rebuild`): a runbook per rebuild of a child site and its steps,
 * kept in the parent's database so it survives restarts; at most one running per site. An address
 * may hold content for a new host of its site (`hold_generation`: only that generation, the old
 * host's, is sent to) until the new host has preloaded what it was shipped.
 */
export const rebuilds: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('rebuilds')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('site_code', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('options', 'text', (c) => c.notNull())
      .addColumn('plan', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('rebuilds_one_running')
      .on('rebuilds')
      .column('site_code')
      .unique()
      .where(sql.ref('state'), '=', 'running')
      .execute();
    await db.schema
      .createTable('rebuild_steps')
      .addColumn('rebuild_id', 'text', (c) => c.notNull())
      .addColumn('step', 'text', (c) => c.notNull())
      .addColumn('ordinal', 'integer', (c) => c.notNull())
      .addColumn('frame', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('started_at', 'bigint')
      .addColumn('finished_at', 'bigint')
      .addColumn('detail', 'text')
      .addColumn('next', 'text')
      .addColumn('error', 'text')
      .addColumn('output', 'text')
      .addPrimaryKeyConstraint('rebuild_steps_pk', ['rebuild_id', 'step'])
      .execute();
    await db.schema.alterTable('addresses').addColumn('hold_generation', 'text').execute();
  },
};
