import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { centralConfig, insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { systemClock } from '../common/index.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import { createLoggers } from '../logs/index.js';
import { acceptEarlyPhase, checkJoin } from './phases.js';
import { getSiteRow } from './records.js';
import { replaceSite } from './replace.js';

const config = centralConfig;

describe('site replace at the parent', () => {
  let site: SiteDb;
  let ctx: Parameters<typeof replaceSite>[0];

  beforeEach(async () => {
    const dir = tempDir('replace');
    site = await openDatabase({ kind: 'sqlite', file: join(dir, 'db') });
    ctx = {
      clock: systemClock,
      config,
      db: site.db,
      log: createLoggers(join(dir, 'logs'), 'C01').log,
      sink: { site: 'C01', hasParent: false },
    };
    await insertChildSite(site.db, { url: 'http://127.0.0.1:9', generation: 'old-generation' });
  });
  afterEach(async () => {
    await site.close();
  });

  it('keeps the old host active until the new one registers, even through a failed preflight', async () => {
    const { joinToken, generation } = await replaceSite(ctx, { code: 'S02' });
    expect(generation).toBe('old-generation');
    expect(await checkJoin(ctx, joinToken)).toMatchObject({ code: 'S02', parent: 'C01' });
    await acceptEarlyPhase(ctx, {
      token: joinToken,
      phase: 'preflight',
      state: 'failed',
      error: 'port in use',
    });
    const row = await getSiteRow(site.db, 'S02');
    expect([row.state, row.generation]).toEqual(['active', 'old-generation']);
    // Fixed and run again, with the same token.
    expect(await checkJoin(ctx, joinToken)).toMatchObject({ code: 'S02' });
  });

  it('refuses a site that has not joined, and one with child sites, changing nothing', async () => {
    await site.db.updateTable('sites').set({ state: 'pending' }).where('code', '=', 'S02').execute();
    await expect(replaceSite(ctx, { code: 'S02' })).rejects.toMatchObject({ code: 'OUTPOST_BAD_INPUT' });
    await site.db
      .updateTable('sites')
      .set({ state: 'active', type: 'primary' })
      .where('code', '=', 'S02')
      .execute();
    await insertChildSite(site.db, { code: 'S03', relation: 'descendant', parent_code: 'S02' });
    await expect(replaceSite(ctx, { code: 'S02' })).rejects.toMatchObject({
      code: 'OUTPOST_SITE_HAS_CHILDREN',
    });
    expect((await getSiteRow(site.db, 'S02')).join_token_hash).toBeNull();
  });
});
