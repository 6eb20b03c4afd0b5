import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, TWO_LEVELS } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { VerifyResult } from '../../src/replication/index.js';
import { cli, metric, sha256, tempDir, waitForPackageState } from './helpers.js';

/** The loose chunk files of a site's content library (chunks too large for a pack), by hash. */
function looseChunks(dataDir: string): string[] {
  const root = join(dataDir, 'content', 'chunks');
  return readdirSync(root)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) => readdirSync(join(root, d)).map((f) => join(root, d, f)));
}

describe('content verify at a secondary', () => {
  const base = tempDir('e2e-verify');
  let h: Hierarchy;

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('bad input exits 2 with one line', async () => {
    const { S02 } = h.sites;
    for (const [args, message] of [
      [['--package', 'nope'], /package id 'nope' is not valid/],
      [['--package', 'C0199999'], /package C0199999 is not known here/],
    ] as const) {
      const r = await cli(['content', 'verify', ...args, '--data', S02.dataDir]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')[0]).toMatch(message);
    }
  });

  it('finds a damaged and a missing chunk, repairs exactly those from the parent, then is clean', async () => {
    const { C01, S02 } = h.sites;
    const source = join(base, 'app');
    mkdirSync(source);
    const data = randomBytes(6 * 1024 * 1024);
    writeFileSync(join(source, 'app.bin'), data);
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'App', source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');

    const clean = await cli(['content', 'verify', '--data', S02.dataDir, '--json']);
    expect(clean.code, clean.stderr).toBe(0);
    expect((JSON.parse(clean.stdout) as VerifyResult).chunks).toBeGreaterThan(2);

    const [damagedPath, missingPath] = looseChunks(S02.dataDir);
    const damagedSha = damagedPath.split('/').pop() as string;
    const missingSha = missingPath.split('/').pop() as string;
    const bytes = statSync(damagedPath).size + statSync(missingPath).size;
    const corrupt = readFileSync(damagedPath);
    corrupt[corrupt.length >> 1] ^= 0xff;
    writeFileSync(damagedPath, corrupt);
    // dp redistribute verifies the DP's copy again: the damage is found, not served as Installed.
    const redistribute = ['dp', 'redistribute', pkg.id, '--dp', 'S02', '--data', C01.dataDir];
    expect((await cli(redistribute)).code).toBe(0);
    const failed = await waitForPackageState(C01, pkg.id, 'S02', 'Install Failed');
    expect(failed.error).toMatch(/app\.bin.*content verify --repair/);
    rmSync(missingPath);

    const found = await cli(['content', 'verify', '--data', S02.dataDir, '--json']);
    expect(found.code, found.stderr).toBe(1);
    const report = JSON.parse(found.stdout) as VerifyResult;
    expect(report.problems.map((p) => [p.sha, p.problem, p.package]).sort()).toEqual(
      [
        [damagedSha, 'damaged', pkg.id],
        [missingSha, 'missing', pkg.id],
      ].sort(),
    );
    expect(report.packages).toEqual([expect.objectContaining({ package: pkg.id, damaged: 1, missing: 1 })]);
    const human = await cli(['content', 'verify', '--data', S02.dataDir]);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('1 damaged, 1 missing');

    const sentBefore = await metric(C01.url, 'outpost_sender_bytes_total', { site: 'S02' });
    const repaired = await cli(['content', 'verify', '--repair', '--data', S02.dataDir, '--json']);
    expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
    const r = JSON.parse(repaired.stdout) as VerifyResult;
    expect(r.repair?.from).toBe('C01');
    expect(r.repair?.items.map((i) => [i.sha, i.repaired]).sort()).toEqual(
      [
        [damagedSha, true],
        [missingSha, true],
      ].sort(),
    );
    // Just those two chunks crossed the link.
    expect(r.repair?.bytes).toBe(bytes);
    expect((await metric(C01.url, 'outpost_sender_bytes_total', { site: 'S02' })) - sentBefore).toBe(bytes);
    expect(sha256(readFileSync(damagedPath))).toBe(damagedSha);
    expect(sha256(readFileSync(missingPath))).toBe(missingSha);

    const again = await cli(['content', 'verify', '--package', pkg.id, '--data', S02.dataDir, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as VerifyResult).problems).toEqual([]);
    expect((await cli(redistribute)).code).toBe(0);
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');
    const res = await fetch(`${S02.url}/dp/${pkg.id}/app.bin`);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(data));
  }, 120_000);
});
