import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';

/** The first schema. `identity` writes the auto-numbered key column the way the dialect wants it. */
export function initial(identity: (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sites')
        .addColumn('code', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('relation', 'text', (c) => c.notNull())
        .addColumn('parent_code', 'text')
        .addColumn('name', 'text')
        .addColumn('url', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('generation', 'text')
        .addColumn('public_key', 'text')
        .addColumn('join_token_hash', 'text')
        .addColumn('join_expires_at', 'bigint')
        .addColumn('join_deadline_ms', 'bigint')
        .addColumn('last_contact', 'bigint')
        .addColumn('error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('site_phases')
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('error', 'text')
        .addPrimaryKeyConstraint('site_phases_pk', ['site_code', 'name'])
        .execute();
      await db.schema
        .createTable('addresses')
        .addColumn('site_code', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('rate_limit_kbps', 'bigint')
        .addColumn('schedule', 'text')
        .addColumn('concurrency', 'bigint', (c) => c.notNull())
        .addColumn('retries', 'bigint', (c) => c.notNull())
        .addColumn('retry_delay_ms', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('packages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('source_version', 'bigint', (c) => c.notNull())
        .addColumn('origin_site', 'text', (c) => c.notNull())
        .addColumn('source_path', 'text')
        .addColumn('complete_version', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('package_files')
        .addColumn('package_id', 'text', (c) => c.notNull())
        .addColumn('source_version', 'bigint', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('chunks', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('package_files_pk', ['package_id', 'source_version', 'path'])
        .execute();
      await db.schema
        .createTable('assignments')
        .addColumn('package_id', 'text', (c) => c.notNull())
        .addColumn('dp', 'text', (c) => c.notNull())
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('assignments_pk', ['package_id', 'dp'])
        .execute();
      await db.schema
        .createTable('deliveries')
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('package_id', 'text', (c) => c.notNull())
        .addColumn('source_version', 'bigint', (c) => c.notNull())
        .addColumn('dps', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('deliveries_pk', ['site_code', 'package_id'])
        .execute();
      await db.schema
        .createTable('package_status')
        .addColumn('package_id', 'text', (c) => c.notNull())
        .addColumn('dp', 'text', (c) => c.notNull())
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('source_version', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('package_status_pk', ['package_id', 'dp'])
        .execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('package_id', 'text')
        .addColumn('source_version', 'bigint')
        .addColumn('subject', 'text')
        .addColumn('dps', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('bytes_sent', 'bigint', (c) => c.notNull())
        .addColumn('bytes_total', 'bigint', (c) => c.notNull())
        .addColumn('attempts', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('jobs_by_state').on('jobs').columns(['state', 'next_attempt_at']).execute();
      await db.schema
        .createTable('status_messages')
        .addColumn('seq', 'integer', identity)
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('component', 'text', (c) => c.notNull())
        .addColumn('site_code', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('package_id', 'text')
        .addColumn('job_id', 'text')
        .addColumn('time', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('outbox')
        .addColumn('seq', 'integer', identity)
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('kv')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
