import type { Insertable, Kysely } from 'kysely';
import type { Database, SitesTable } from '../src/db/index.js';
import type { SiteConfig } from '../src/host/index.js';

/** The configuration of a central site C01, for domain functions tested without a server. */
export const centralConfig: SiteConfig = {
  code: 'C01',
  type: 'central',
  name: 'C01',
  listen: '127.0.0.1:8470',
  url: 'http://127.0.0.1:8470',
  generation: 'c01-generation',
  parent: null,
  createdAt: 0,
};

/**
 * Inserts a child site S02 of C01 as its parent records it, active and with nothing else known;
 * `overrides` sets what a test needs (code, state, key, join token…).
 */
export async function insertChildSite(
  db: Kysely<Database>,
  overrides: Partial<Insertable<SitesTable>> = {},
): Promise<void> {
  await db
    .insertInto('sites')
    .values({
      code: 'S02',
      type: 'secondary',
      relation: 'child',
      parent_code: 'C01',
      name: null,
      url: null,
      state: 'active',
      generation: null,
      public_key: null,
      join_token_hash: null,
      join_expires_at: null,
      join_deadline_ms: null,
      last_contact: null,
      error: null,
      created_at: 0,
      updated_at: 0,
      ...overrides,
    })
    .execute();
}

/** Inserts C01's address to S02: no rate limit or schedule, one job at a time, 2 retries a second apart. */
export async function insertAddress(db: Kysely<Database>): Promise<void> {
  await db
    .insertInto('addresses')
    .values({
      site_code: 'S02',
      url: 'http://s02',
      rate_limit_kbps: null,
      schedule: null,
      concurrency: 1,
      retries: 2,
      retry_delay_ms: 1000,
      updated_at: 0,
    })
    .execute();
}

/** A package row of C01 at source version 1, complete here (`name` is its id). */
export function packageRow(id: string) {
  return {
    id,
    name: id,
    source_version: 1,
    origin_site: 'C01',
    source_path: null,
    complete_version: 1,
    created_at: 0,
    updated_at: 0,
  };
}
