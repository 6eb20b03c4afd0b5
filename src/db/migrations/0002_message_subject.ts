import type { Kysely, Migration } from 'kysely';

/**
 * A status message names the site it is about as well as the site that reported it, so that
 * `status messages --site` finds a parent's messages about a child. Both columns are indexed: the
 * filter matches either.
 */
export const messageSubject: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('status_messages').addColumn('subject_site', 'text').execute();
    await db.schema
      .createIndex('status_messages_by_site')
      .on('status_messages')
      .column('site_code')
      .execute();
    await db.schema
      .createIndex('status_messages_by_subject')
      .on('status_messages')
      .column('subject_site')
      .execute();
  },
};
