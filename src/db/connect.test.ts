import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { type DatabaseConfig, openDatabase } from './connect.js';

const PG_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `t_${process.pid}_${Date.now()}`;

const configs: [string, DatabaseConfig][] = [
  ['sqlite', { kind: 'sqlite', file: join(tempDir('db'), 'site.db') }],
  ['postgres', { kind: 'postgres', url: PG_URL, schema }],
];

afterAll(async () => {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
});

describe.each(configs)('database on %s', (_name, config) => {
  it('migrates twice without error and round-trips numbers and identity columns', async () => {
    const first = await openDatabase(config);
    await first.close();
    const { db, close } = await openDatabase(config);
    try {
      const big = 1_800_000_000_000;
      await db
        .insertInto('outbox')
        .values([
          { kind: 'message', payload: '{}', created_at: big },
          { kind: 'site', payload: '{}', created_at: big + 1 },
        ])
        .execute();
      const rows = await db.selectFrom('outbox').selectAll().orderBy('seq').execute();
      expect(rows.map((r) => r.created_at)).toEqual([big, big + 1]);
      expect(typeof rows[0].seq).toBe('number');
      expect(rows[1].seq).toBeGreaterThan(rows[0].seq);
    } finally {
      await close();
    }
  });
});
