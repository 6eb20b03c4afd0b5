import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { centralConfig, insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { systemClock } from '../common/index.js';
import { openDatabase, type SiteDb } from '../db/index.js';
import { hashToken } from './codes.js';
import { checkJoin } from './phases.js';
import { recordPhase } from './records.js';

const TOKEN = `S02.${'a'.repeat(32)}`;
const config = centralConfig;

describe('a failed join', () => {
  let site: SiteDb;

  beforeEach(async () => {
    site = await openDatabase({ kind: 'sqlite', file: join(tempDir('phases'), 'db') });
  });
  afterEach(async () => {
    await site.close();
  });

  /** A child S02 that failed in `phase`, its error text reading `error`. */
  async function failedIn(phase: string, error: string): Promise<void> {
    const now = Date.now();
    await insertChildSite(site.db, {
      type: 'primary',
      url: 'http://127.0.0.1:9',
      state: 'failed',
      join_token_hash: hashToken(TOKEN),
      join_expires_at: now + 60_000,
      join_deadline_ms: 60_000,
      error,
      created_at: now,
      updated_at: now,
    });
    await recordPhase(site.db, 'S02', phase, 'failed', now, error);
  }

  const check = () => checkJoin({ clock: systemClock, config, db: site.db }, TOKEN);

  it('may run again with the same token when it failed in preflight', async () => {
    await failedIn('preflight', 'listen port free (in use)');
    expect(await check()).toMatchObject({ code: 'S02', parent: 'C01' });
  });

  it('may not when it failed later, whatever its error text says', async () => {
    await failedIn('data directory', 'preflight: looks like one but is not');
    await expect(check()).rejects.toMatchObject({ code: 'OUTPOST_JOIN_TOKEN_INVALID' });
  });
});
