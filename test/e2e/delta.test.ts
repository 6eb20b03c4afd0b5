import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { metric, sha256, tempDir, waitForPackageState } from './helpers.js';

describe('delta replication', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-delta');
  const source = join(base, 'src');

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('an update that changes one file of a 20-file package sends only that file', async () => {
    mkdirSync(source, { recursive: true });
    for (let i = 0; i < 20; i++)
      writeFileSync(join(source, `file-${String(i).padStart(2, '0')}.dat`), randomBytes(96 * 1024));
    const { C01, S02 } = h.sites;
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Twenty', source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 60_000, 1);
    const afterFirst = await metric(S02.url, 'outpost_despooler_bytes_total');
    expect(afterFirst).toBe(20 * 96 * 1024);

    const changed = randomBytes(80 * 1024);
    writeFileSync(join(source, 'file-07.dat'), changed);
    const updated = await C01.admin.post<PackageView>(`/packages/${pkg.id}/update`, {});
    expect(updated.sourceVersion).toBe(2);
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 60_000, 2);
    const afterUpdate = await metric(S02.url, 'outpost_despooler_bytes_total');
    expect(afterUpdate - afterFirst).toBe(changed.length);

    const res = await fetch(`${S02.url}/dp/${pkg.id}/file-07.dat`);
    expect(res.headers.get('etag')).toBe(`"${sha256(changed)}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(changed)).toBe(true);
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed', 30_000, 2);
  });

  it('unassigning removes the package from the DP and frees content no other package uses', async () => {
    const { C01, S02 } = h.sites;
    const pkg = (await C01.admin.get<PackageView[]>('/packages'))[0];
    await C01.admin.post(`/packages/${pkg.id}/unassign`, { dps: ['S02'] });
    await waitFor('package status row gone at C01', 30_000, async () => {
      const rows = await C01.admin.get<unknown[]>('/status/packages', { package: pkg.id });
      return rows.length === 0;
    });
    expect((await fetch(`${S02.url}/dp/${pkg.id}/file-07.dat`)).status).toBe(404);
    await waitFor(
      'S02 to forget the package',
      30_000,
      async () => (await S02.admin.get<unknown[]>('/packages')).length === 0,
    );
    const chunksLeft = () =>
      readdirSync(join(S02.dataDir, 'content', 'chunks'))
        .filter((d) => d !== 'tmp')
        .flatMap((d) => readdirSync(join(S02.dataDir, 'content', 'chunks', d)));
    await waitFor('S02 to free the content', 30_000, async () => chunksLeft().length === 0);
  });
});
