import type { Kysely, Migration } from 'kysely';

/**
 * The server processes that may hold job leases for this site, so a restarted process can tell
 * its dead predecessor's leases (taken back at once) from those of another live process sharing the
 * database (honoured until they expire).
 */
export const leaseOwners: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('lease_owners')
      .addColumn('owner', 'text', (c) => c.primaryKey())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('pid', 'bigint', (c) => c.notNull())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('seen_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
