import type { Kysely, Migration } from 'kysely';

/**
 * Which server process of the site runs each component that must run once per site (distmgr, the
 * status forwarder, policy push, rebuild runbooks) when several share the database: a lease per role.
 */
export const leaders: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('leaders')
      .addColumn('role', 'text', (c) => c.primaryKey())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
