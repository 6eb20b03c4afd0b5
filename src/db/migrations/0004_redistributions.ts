import type { Kysely, Migration } from 'kysely';

/**
 * How many times the package's origin has asked for an assignment to be redistributed. It travels
 * down with the assignment; a site that receives a higher count than it holds starts its own part
 * of the way to that DP again (the job that gave up toward the next hop is made again), so a
 * redistribute at the origin reaches the hop that failed, however far down it is.
 */
export const redistributions: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('assignments')
      .addColumn('redistributions', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};
