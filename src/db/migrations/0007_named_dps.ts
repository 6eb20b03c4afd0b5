import type { Kysely, Migration } from 'kysely';

/**
 * Named DPs (`S02/NAME`): DPs a site serves besides its default one, each with its own installed
 * packages and status rows. A site records its own; the record travels up to every ancestor, where
 * a package may be assigned to it.
 */
export const namedDps: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('dps')
      .addColumn('dp', 'text', (c) => c.primaryKey())
      .addColumn('site_code', 'text', (c) => c.notNull())
      .addColumn('url', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
