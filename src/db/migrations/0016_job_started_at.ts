import type { Kysely, Migration } from 'kysely';

/** When the current attempt of a job started: with its bytes sent, the rate and ETA `job list` shows. */
export const jobStartedAt: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').addColumn('started_at', 'bigint').execute();
  },
};
