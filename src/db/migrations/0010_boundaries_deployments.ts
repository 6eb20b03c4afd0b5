import type { Kysely, Migration } from 'kysely';

/**
 * Boundaries (IP ranges that map clients to a site) and deployments (a package's program for the
 * clients of sites, boundaries or ids), each made at one site and given down to the sites that need
 * them; and the deployed packages as the parent last described them (files, DPs above).
 */
export const boundariesDeployments: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('boundaries')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('site_code', 'text', (c) => c.notNull())
      .addColumn('range', 'text', (c) => c.notNull())
      .addColumn('family', 'bigint', (c) => c.notNull())
      .addColumn('first_ip', 'text', (c) => c.notNull())
      .addColumn('last_ip', 'text', (c) => c.notNull())
      .addColumn('origin_site', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('deployments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('package_id', 'text', (c) => c.notNull())
      .addColumn('command', 'text', (c) => c.notNull())
      .addColumn('workdir', 'text')
      .addColumn('timeout_ms', 'bigint', (c) => c.notNull())
      .addColumn('success_codes', 'text', (c) => c.notNull())
      .addColumn('fallback', 'bigint', (c) => c.notNull())
      .addColumn('target_kind', 'text', (c) => c.notNull())
      .addColumn('targets', 'text', (c) => c.notNull())
      .addColumn('origin_site', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('policy_packages')
      .addColumn('package_id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('source_version', 'bigint', (c) => c.notNull())
      .addColumn('files', 'text', (c) => c.notNull())
      .addColumn('dps', 'text', (c) => c.notNull())
      .execute();
  },
};
