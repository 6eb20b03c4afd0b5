import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { OutpostError } from '../errors/index.js';
import { type Dialect, migrate } from './migrations.js';
import type { Database } from './schema.js';

/** Where a site keeps its database: the embedded default, or PostgreSQL for sites that scale out. */
export type DatabaseConfig =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; url: string; schema: string };

export interface SiteDb {
  db: Kysely<Database>;
  dialect: Dialect;
  close(): Promise<void>;
}

// bigint columns come back from pg as strings; every bigint we store is an epoch-ms or a byte count
// well inside Number's safe range.
pg.types.setTypeParser(20, (value) => Number(value));

/** Opens (and migrates) a site database. */
export async function openDatabase(config: DatabaseConfig): Promise<SiteDb> {
  if (config.kind === 'sqlite') {
    const handle = new SqliteDatabase(config.file);
    handle.pragma('journal_mode = WAL');
    handle.pragma('synchronous = FULL');
    handle.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
    await migrate(db as Kysely<unknown>, 'sqlite');
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  if (!/^[a-z_][a-z0-9_]*$/.test(config.schema)) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `PostgreSQL schema name '${config.schema}' is not valid`, {
      hint: 'a schema name is lower-case letters, digits and _, not starting with a digit',
    });
  }
  const admin = new pg.Client({ connectionString: config.url });
  await admin.connect();
  try {
    await admin.query(`create schema if not exists ${config.schema}`);
  } finally {
    await admin.end();
  }
  // Each site owns one schema, so several sites (or tests) can share one PostgreSQL database.
  const pool = new pg.Pool({
    connectionString: config.url,
    max: 5,
    options: `-c search_path=${config.schema}`,
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await migrate(db as Kysely<unknown>, 'postgres', config.schema);
  return { db, dialect: 'postgres', close: () => db.destroy() };
}
