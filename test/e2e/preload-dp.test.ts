import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Hierarchy, spawnSite, startHierarchy, waitFor } from '../../src/demo/index.js';
import type { OutpostError } from '../../src/errors/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { LibraryProgress, PreloadSummary } from '../../src/replication/index.js';
import { cli, libraryIsSound, metric, tempDir, waitForPackageState } from './helpers.js';
import { TestProxy } from './proxy.js';

const RECEIVED = 'outpost_despooler_bytes_total';
const MiB = 1024 * 1024;

/** A source of a few files of one chunk each (loose in a library) and a dozen small ones (packed). */
function makeSource(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `big-${i}.bin`), randomBytes(200 * 1024 + i));
  for (let i = 0; i < 12; i++) writeFileSync(join(dir, `small-${i}.txt`), randomBytes(3000 + i));
}

describe('content preload --from-dp', { timeout: 180_000 }, () => {
  let h: Hierarchy;
  const base = tempDir('e2e-preload-dp');

  const create = async (name: string, fill: (dir: string) => void = makeSource) => {
    fill(join(base, `src-${name}`));
    return h.sites.C01.admin.post<PackageView>('/packages', { name, source: join(base, `src-${name}`) });
  };
  const installAt = async (p: PackageView, dp: string) => {
    await h.sites.C01.admin.post(`/packages/${p.id}/assign`, { dps: [dp] });
    await waitForPackageState(h.sites[dp], p.id, dp, 'Installed', 120_000);
  };
  const preload = async (site: string, args: string[]) => {
    const r = await cli(['content', 'preload', ...args, '--json', '--data', h.sites[site].dataDir]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as PreloadSummary;
  };

  beforeAll(async () => {
    h = await startHierarchy(base, [
      { code: 'C01', type: 'central' },
      { code: 'S02', type: 'secondary', parent: 'C01' },
      { code: 'S03', type: 'secondary', parent: 'C01' },
      { code: 'S04', type: 'secondary', parent: 'C01' },
    ]);
  }, 180_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('S03 preloads from S02’s DP over the LAN, and its parent then sends it no content bytes', async () => {
    const { S02, S03 } = h.sites;
    const a = await create('A');
    const b = await create('B');
    const elsewhere = await create('N'); // known to the hierarchy, not on S02's DP
    await installAt(a, 'S02');
    await installAt(b, 'S02');

    const first = await preload('S03', ['--from-dp', `${S02.url}/dp`]);
    expect(first.fromDp).toEqual({ url: `${S02.url}/dp`, dp: 'S02' });
    expect([...first.imported].sort()).toEqual([a.id, b.id].sort());
    expect(first.skipped).toEqual([]);
    expect(first.partial).toEqual([]);
    expect(first.chunks.alreadyHeld).toBe(0);
    expect(first.bytesVerified).toBe(first.chunks.bytes);
    expect(first.chunks.bytes).toBe(a.size + b.size);

    // Rerun: everything is here, so nothing is fetched or verified again.
    const again = await preload('S03', ['--from-dp', `${S02.url}/dp/`]);
    expect(again.bytesVerified).toBe(0);
    expect(again.chunks.alreadyHeld).toBe(first.chunks.imported);
    expect(again.chunks.alreadyHeldBytes).toBe(first.chunks.bytes);

    // A package asked for by id that the DP does not serve is named.
    const named = await preload('S03', ['--from-dp', `${S02.url}/dp`, elsewhere.id]);
    expect(named.skipped).toEqual([
      { id: elsewhere.id, reason: 'not found', detail: 'DP S02 does not serve it' },
    ]);
    expect(named.bytesVerified).toBe(0);

    await installAt(a, 'S03');
    await installAt(b, 'S03');
    expect(await metric(S03.url, RECEIVED)).toBe(0);
    expect(await libraryIsSound(S03.dataDir)).toBe(true);
  });

  it('a DP that serves a wrong byte: that file is reported corrupt and nothing of it is imported', async () => {
    const { S02, S03 } = h.sites;
    const k = await create('K');
    await installAt(k, 'S02');
    // big-0.bin is one chunk (under the minimum chunk size), stored loose at S02 under the file's hash.
    const file = k.files.find((f) => f.path === 'big-0.bin');
    const sha = file?.sha256 ?? '';
    const stored = join(S02.dataDir, 'content', 'chunks', sha.slice(0, 2), sha);
    const good = readFileSync(stored);
    const bad = Buffer.from(good);
    bad[1000] ^= 0x01;
    writeFileSync(stored, bad);
    try {
      const s = await preload('S03', ['--from-dp', `${S02.url}/dp`, k.id]);
      expect(s.skipped).toEqual([
        {
          path: `${k.id}/big-0.bin`,
          id: k.id,
          reason: 'corrupt',
          detail: expect.stringMatching(new RegExp(`^chunk ${sha.slice(0, 12)}: corrupt`)),
        },
      ]);
      expect(s.imported).toEqual([]);
      expect(s.partial).toEqual([
        { id: k.id, sourceVersion: 1, missingChunks: 1, missingBytes: good.length },
      ]);
      expect(existsSync(join(S03.dataDir, 'content', 'chunks', sha.slice(0, 2), sha))).toBe(false);
      expect(await libraryIsSound(S03.dataDir)).toBe(true);
    } finally {
      writeFileSync(stored, good);
    }
  });

  it('a DP holding an older version gives the files that did not change; the changed ones are named', async () => {
    const { C01, S02 } = h.sites;
    const p = await create('P');
    await installAt(p, 'S02');
    // S02 keeps version 1: its link is closed while version 2 is made.
    const hour = (new Date().getHours() + 2) % 24;
    await C01.admin.put('/addresses/S02', { schedule: `${hour}-${(hour + 1) % 24}` });
    try {
      const changed = randomBytes(150 * 1024);
      writeFileSync(join(base, 'src-P', 'big-0.bin'), changed);
      const v2 = await C01.admin.post<PackageView>(`/packages/${p.id}/update`, {
        source: join(base, 'src-P'),
      });
      expect(v2.sourceVersion).toBe(2);
      const s = await preload('S03', ['--from-dp', `${S02.url}/dp`, p.id]);
      expect(s.skipped).toEqual([
        {
          id: p.id,
          reason: 'stale version',
          detail: 'DP S02 holds another version of 1 of its files; the parent sends what they lack',
        },
      ]);
      expect(s.partial).toEqual([
        { id: p.id, sourceVersion: 2, missingChunks: 1, missingBytes: changed.length },
      ]);
      expect(s.chunks.bytes).toBe(v2.size - changed.length);
    } finally {
      await C01.admin.put('/addresses/S02', { schedule: null });
    }
  });

  it('refuses a URL that cannot be reached or is not a DP, and a command without a source', async () => {
    const { S02, S03 } = h.sites;
    const refused = async (args: string[], text: string) => {
      const r = await cli(['content', 'preload', ...args, '--data', S03.dataDir]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(text);
      expect(r.stdout).toBe('');
    };
    await refused(['--from-dp', `http://127.0.0.1:${await freePort()}/dp`], 'cannot reach the DP at');
    await refused(['--from-dp', `${S02.url}/api/v1`], 'is not an Outpost DP (it answered HTTP 404');
    await refused([], 'give either --dir DIR or --from-dp URL');
    // The same through the admin API: 400 with the reason, nothing started.
    const viaApi = async (body: object, text: string) => {
      const err = await S03.admin.post('/content/preload', body).then(
        () => null,
        (e: OutpostError) => e,
      );
      expect(err?.code).toBe('OUTPOST_SOURCE_UNREADABLE');
      expect(err?.message).toContain(text);
    };
    await viaApi(
      { fromDp: `${S02.url}/metrics` },
      `${S02.url}/metrics is not an Outpost DP (it answered HTTP 200)`,
    );
    await viaApi({ fromDp: `${S02.url}/dps/nope` }, 'DP S02/nope is not known at S02');
    for (const body of [{ fromDp: 'ftp://example.org/dp' }, { dir: base, fromDp: `${S02.url}/dp` }]) {
      const err = await S03.admin.post('/content/preload', body).then(
        () => null,
        (e: OutpostError) => e,
      );
      expect(err?.code).toBe('OUTPOST_BAD_INPUT');
    }
  });

  it('killed (kill -9) mid-way and run again: what it stored is neither fetched nor verified again', async () => {
    const { S02, S04 } = h.sites;
    // 24 MiB in three files; the link from S02's DP stalls after 14 MiB, so the first run stores
    // at least one batch (8 MiB) and cannot finish.
    const big = await create('BIG', (dir) => {
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 3; i++) writeFileSync(join(dir, `part-${i}.bin`), randomBytes(8 * MiB));
    });
    await installAt(big, 'S02');
    const proxy = new TestProxy(Number(new URL(S02.url).port));
    await proxy.listen();
    try {
      proxy.holdFromTargetAfter(14 * MiB);
      const progressId = randomUUID();
      // Through the admin API, as the CLI does: the site server does the fetching.
      const running = S04.admin
        .post<PreloadSummary>('/content/preload', { fromDp: `${proxy.url}/dp`, ids: [big.id], progressId })
        .then(
          () => 'finished',
          () => 'cut off',
        );
      const part = await waitFor('the first run to store part of BIG', 60_000, async () => {
        const p = await S04.admin.get<LibraryProgress>(`/content/progress/${progressId}`);
        return p.bytesStored > 0 ? p : null;
      });
      expect(part.phase).toBe('fetching');
      expect(part.bytesTotal).toBe(big.size);
      expect(part.bytesStored).toBeLessThan(big.size);
      await S04.process.kill();
      expect(await running).toBe('cut off');

      S04.process = await spawnSite(S04.dataDir, S04.url, ['--heartbeat', '1s']);
      proxy.release();
      const wireBefore = proxy.bytesFromTarget;
      const rerun = await preload('S04', ['--from-dp', `${proxy.url}/dp`, big.id]);
      expect(rerun.imported).toEqual([big.id]);
      expect(rerun.skipped).toEqual([]);
      // What the killed run stored counts as held; only the rest is fetched and verified.
      expect(rerun.chunks.alreadyHeldBytes).toBeGreaterThanOrEqual(part.bytesStored);
      expect(rerun.chunks.alreadyHeldBytes + rerun.bytesVerified).toBe(big.size);
      expect(rerun.chunks.alreadyHeld + rerun.chunks.verified).toBe(rerun.importedVersions[0].chunks);
      expect(rerun.bytesVerified).toBe(rerun.chunks.bytes);
      // On the wire: the rest and the HTTP around it, not BIG again.
      expect(proxy.bytesFromTarget - wireBefore).toBeLessThan(rerun.bytesVerified + 64 * 1024);
      expect(await libraryIsSound(S04.dataDir)).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
