import type { Kysely, Migration } from 'kysely';

/**
 * Clients (registered at their site's MP with their own key; their records reported up, without
 * the key) and where each deployment stands on each client, reported up to the central site.
 */
export const clients: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('clients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('site_code', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('public_key', 'text')
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('boundary', 'text', (c) => c.notNull())
      .addColumn('registered_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('deployment_status')
      .addColumn('deployment_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('package_id', 'text', (c) => c.notNull())
      .addColumn('site_code', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('exit_code', 'bigint')
      .addColumn('output', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('deployment_status_pk', ['deployment_id', 'client_id'])
      .execute();
  },
};
