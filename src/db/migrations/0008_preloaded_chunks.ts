import type { Kysely, Migration } from 'kysely';

/**
 * Chunks a preload brought for packages not (yet) assigned at this site: garbage collection keeps
 * them, so a later assignment finds them here and costs no content bytes.
 */
export const preloadedChunks: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('preloaded_chunks')
      .addColumn('sha256', 'text', (c) => c.primaryKey())
      .addColumn('package_id', 'text', (c) => c.notNull())
      .addColumn('source_version', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
