import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { FileContentStore } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import { collectGarbage, retireUnneeded } from './gc.js';

describe('retireUnneeded', () => {
  let site: SiteDb;

  beforeEach(async () => {
    site = await openDatabase({ kind: 'sqlite', file: join(tempDir('gc'), 'db') });
    await site.db
      .insertInto('packages')
      .values({
        id: 'C0100002',
        name: 'Two',
        source_version: 1,
        origin_site: 'C01',
        source_path: null,
        complete_version: 1,
        created_at: 1,
        updated_at: 1,
      })
      .execute();
  });
  afterEach(async () => {
    await site.close();
  });

  it('keeps a package whose assignment arrived after the round read the assignments', async () => {
    // The round read no assignment of C0100002; it completed (and was assigned) meanwhile.
    await site.db
      .insertInto('assignments')
      .values({ package_id: 'C0100002', dp: 'S02', site_code: 'S02', created_at: 2 })
      .execute();
    const ctx = { config: { code: 'S02' } as SiteContext['config'], db: site.db };
    expect(await retireUnneeded(ctx, [])).toBe(false);
    expect(await site.db.selectFrom('packages').select('id').execute()).toHaveLength(1);
  });

  it('forgets a completed package assigned nowhere', async () => {
    const ctx = { config: { code: 'S02' } as SiteContext['config'], db: site.db };
    expect(await retireUnneeded(ctx, [])).toBe(true);
    expect(await site.db.selectFrom('packages').select('id').execute()).toHaveLength(0);
  });
});

describe('garbage collection', () => {
  it('keeps chunks a preload recorded for a package not assigned here, and frees the rest', async () => {
    const dir = tempDir('gc');
    const { db, close } = await openDatabase({ kind: 'sqlite', file: join(dir, 'site.db') });
    const store = new FileContentStore(join(dir, 'chunks'));
    try {
      const kept = randomBytes(100_000);
      const loose = randomBytes(100_000);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      await store.putMany([
        { sha: sha(kept), data: kept },
        { sha: sha(loose), data: loose },
      ]);
      await db
        .insertInto('preloaded_chunks')
        .values({ sha256: sha(kept), package_id: 'C0100001', source_version: 1, created_at: 0 })
        .execute();
      expect(await collectGarbage({ db, store })).toBe(1);
      expect(await store.has(sha(kept))).toBe(true);
      expect(await store.has(sha(loose))).toBe(false);
    } finally {
      await close();
    }
  });
});
