import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELTA_BLOCK, encodeDelta, signatureOf } from '../../src/content/index.js';
import { type Hierarchy, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { loadSiteKeys, type PatchHeader, type Sender, s2sPutPatch } from '../../src/s2s/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import {
  cli,
  identityOf,
  manifestChunks,
  metric,
  seededBytes,
  sha256,
  tempDir,
  waitForPackageState,
} from './helpers.js';

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
    // --wait with --json: the package on stdout, the DPs' progress on stderr, exit 0 once Installed.
    const update = await cli(['package', 'update', pkg.id, '--wait', '--json', '--data', C01.dataDir]);
    expect(update.code, update.stderr).toBe(0);
    const updated = JSON.parse(update.stdout) as PackageView;
    expect(updated.sourceVersion).toBe(2);
    expect(update.stderr).toContain(`${pkg.id} Installed at S02`);
    expect((await C01.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id }))[0]).toMatchObject({
      state: 'Installed',
      sourceVersion: 2,
    });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 60_000, 2);
    const afterUpdate = await metric(S02.url, 'outpost_despooler_bytes_total');
    expect(afterUpdate - afterFirst).toBe(changed.length);

    const res = await fetch(`${S02.url}/dp/${pkg.id}/file-07.dat`);
    expect(res.headers.get('etag')).toBe(`"${sha256(changed)}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(changed)).toBe(true);
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed', 30_000, 2);

    // The same source again: no new version, nothing to send, and it says so.
    const same = await cli(['package', 'update', pkg.id, '--json', '--data', C01.dataDir]);
    expect(same.code, same.stderr).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ id: pkg.id, sourceVersion: 2, changed: false });
    const text = await cli(['package', 'update', pkg.id, '--data', C01.dataDir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('no change');
    expect((await C01.admin.get<PackageView>(`/packages/${pkg.id}`)).sourceVersion).toBe(2);
    const rows = await C01.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
    expect(rows.map((r) => [r.state, r.sourceVersion])).toEqual([['Installed', 2]]);
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

  it('a 1 MiB change in the middle of a 64 MiB file sends the changed bytes as deltas of a few chunks, not the file', async () => {
    const { C01, S02 } = h.sites;
    const big = join(base, 'big');
    mkdirSync(big, { recursive: true });
    // Seeded, so the chunk boundaries (and this test's outcome) are the same on every run.
    const data = seededBytes(64 * 1024 * 1024, 'delta-64MiB');
    // Written without blocking the event loop: the admin client's idle connection must see the
    // server's keep-alive close it, or the next request goes out on a closed socket.
    await writeFile(join(big, 'disk.img'), data);
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Disk image', source: big });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 120_000, 1);
    const first = manifestChunks(C01.dataDir, pkg.id, 1);
    const before = await metric(S02.url, 'outpost_despooler_bytes_total');
    const patchedBefore = await metric(S02.url, 'outpost_despooler_patched_bytes_total');

    seededBytes(1024 * 1024, 'delta-1MiB').copy(data, 32 * 1024 * 1024 - 512 * 1024);
    await writeFile(join(big, 'disk.img'), data);
    await C01.admin.post(`/packages/${pkg.id}/update`, {});
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 120_000, 2);
    const changed = [...manifestChunks(C01.dataDir, pkg.id, 2)].filter(([sha]) => !first.has(sha));
    const sent = (await metric(S02.url, 'outpost_despooler_bytes_total')) - before;
    const patched = (await metric(S02.url, 'outpost_despooler_patched_bytes_total')) - patchedBefore;
    const changedBytes = changed.reduce((sum, [, size]) => sum + size, 0);
    console.log(
      `1 MiB changed in 64 MiB: ${changed.length} of ${first.size} chunks new (${changedBytes} B), ` +
        `${patched} B of them rebuilt from deltas, ${sent} B sent`,
    );

    // The new chunks are few: the ones the change overlaps and at most one after it, where the cut
    // points fall in step again. S02 held the old chunks at the same place in the file, so each new
    // chunk went as a delta against them: the changed MiB (random, so nothing of it can be saved)
    // and little else, rather than the whole chunks.
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.length).toBeLessThanOrEqual(4);
    expect(patched).toBeGreaterThan(0);
    expect(patched).toBeLessThanOrEqual(changedBytes);
    expect(sent).toBeGreaterThanOrEqual(1024 * 1024);
    expect(sent).toBeLessThan(1024 * 1024 + 64 * 1024);
    expect(changedBytes).toBeGreaterThan(sent + 512 * 1024);
    const res = await fetch(`${S02.url}/dp/${pkg.id}/disk.img`);
    expect(res.headers.get('etag')).toBe(`"${sha256(data)}"`);
  }, 240_000);
});

describe('a chunk sent as a delta (PUT /s2s/v1/patches)', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-patch');
  let asParent: Sender;
  let held: { sha: string; data: Buffer };

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    const { C01, S02 } = h.sites;
    const source = join(base, 'src');
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, 'one.dat'), seededBytes(200 * 1024, 'patch-basis'));
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'One chunk', source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 60_000, 1);
    const [sha] = [...manifestChunks(S02.dataDir, pkg.id, 1).keys()];
    held = { sha, data: readFileSync(join(S02.dataDir, 'content', 'chunks', sha.slice(0, 2), sha)) };
    const id = identityOf(C01.dataDir);
    asParent = { ...id, keys: loadSiteKeys(id.privateKeyPem), clock: { now: () => Date.now() } };
  });

  afterAll(async () => {
    await h?.stop();
  });

  const chunkAt = (sha: string) => join(h.sites.S02.dataDir, 'content', 'chunks', sha.slice(0, 2), sha);
  const put = (header: PatchHeader, delta: Buffer) =>
    s2sPutPatch(
      asParent,
      h.sites.S02.url,
      header,
      Readable.from([delta]),
      delta.length,
      AbortSignal.timeout(30_000),
    );

  it('is rebuilt from the chunk the child holds and stored only when it matches its hash', async () => {
    const target = Buffer.from(held.data);
    seededBytes(100, 'patch-change').copy(target, 70_000);
    const delta = encodeDelta(target, signatureOf(held.data, DELTA_BLOCK));
    expect(delta.length).toBeLessThan(3 * DELTA_BLOCK);
    const header = { sha: sha256(target), size: target.length, block: DELTA_BLOCK, basis: [held.sha] };

    // A basis the child does not hold, and a delta that rebuilds other bytes than the hash says:
    // not used, nothing stored, and the parent is told to send the chunk whole.
    const absent = await put({ ...header, basis: [sha256('not held')] }, delta);
    expect(absent).toMatchObject({ stored: false, reason: expect.stringContaining('is not here') });
    const wrong = await put({ ...header, sha: sha256('other bytes') }, delta);
    expect(wrong.stored).toBe(false);
    expect(existsSync(chunkAt(sha256('other bytes')))).toBe(false);
    const garbage = await put(header, Buffer.from([0, 0, 0, 9, 9, 0, 0, 0, 1]));
    expect(garbage).toMatchObject({ stored: false, reason: expect.stringContaining('malformed delta') });
    expect(existsSync(chunkAt(header.sha))).toBe(false);

    expect(await put(header, delta)).toEqual({ stored: true });
    expect(readFileSync(chunkAt(header.sha)).equals(target)).toBe(true);
  });

  it('refuses a malformed header (400) and an unsigned patch (401) before reading it', async () => {
    const delta = Buffer.from('x');
    await expect(
      put({ sha: sha256('x'), size: 0, block: DELTA_BLOCK, basis: [held.sha] }, delta),
    ).rejects.toMatchObject({ code: 'OUTPOST_BAD_INPUT' });
    const unsigned = await fetch(`${h.sites.S02.url}/s2s/v1/patches`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: delta,
    });
    expect(unsigned.status).toBe(401);
  });
});
