import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, spawnSite, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { SiteView } from '../../src/sites/index.js';
import type { StatusMessage } from '../../src/status/index.js';
import { tempDir } from './helpers.js';

describe('heartbeats', () => {
  let h: Hierarchy;
  const args = ['--heartbeat', '300ms', '--unreachable-after', '2s'];

  beforeAll(async () => {
    h = await startHierarchy(tempDir('e2e-unreachable'), TWO_LEVELS, args);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('an active site that stops heartbeating is unreachable after the configured time, and active when it is back', async () => {
    const { C01, S02 } = h.sites;
    const before = await C01.admin.get<SiteView>('/sites/S02');
    expect(before.lastContact).toBeGreaterThan(Date.now() - 5000);
    await S02.process.stop();
    const down = await waitFor('S02 unreachable at C01', 15_000, async () => {
      const s = await C01.admin.get<SiteView>('/sites/S02');
      return s.state === 'unreachable' ? s : null;
    });
    // Not before the configured time since the last heartbeat C01 saw (a loaded machine may have
    // delayed that heartbeat, so the time since the stop proves nothing).
    expect(Date.now() - (down.lastContact ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(down.error).toMatch(/^no heartbeat for \d/);
    const warnings = await C01.admin.get<StatusMessage[]>('/status/messages', { component: 'hierman' });
    expect(
      warnings.some((m) => m.severity === 'warning' && m.text.startsWith('site S02 is unreachable')),
    ).toBe(true);

    S02.process = await spawnSite(S02.dataDir, S02.url, args);
    await waitFor(
      'S02 active again at C01',
      15_000,
      async () => (await C01.admin.get<SiteView>('/sites/S02')).state === 'active',
    );
  });
});
