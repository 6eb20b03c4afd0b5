import type { Kysely, Migration } from 'kysely';

/**
 * The file lines of an offer still arriving from the parent, staged outside the package's own
 * rows: they take effect, in one short transaction, only once the whole body matched its signed
 * hash, and are dropped otherwise.
 */
export const offeredFiles: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('offered_files')
      .addColumn('offer', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('line', 'bigint', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('chunks', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('offered_files_pk', ['offer', 'path'])
      .execute();
  },
};
