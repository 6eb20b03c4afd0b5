import type { Kysely, Migration } from 'kysely';

/**
 * For each file of a package version received from the parent, the chunks the same path had in the
 * version held before it: what a changed chunk can be sent as a delta against (see content/delta).
 */
export const basisChunks: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('package_files').addColumn('basis_chunks', 'text').execute();
  },
};
