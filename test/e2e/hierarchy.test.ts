import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, THREE_LEVELS } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { StatusMessage } from '../../src/status/index.js';
import { cli, sha256, tempDir, waitForPackageState } from './helpers.js';

describe('a three-level hierarchy of real site servers', () => {
  let h: Hierarchy;
  let pkg: PackageView;
  const base = tempDir('e2e-3');
  const big = randomBytes(5 * 1024 * 1024 + 123);

  beforeAll(async () => {
    h = await startHierarchy(base, THREE_LEVELS);
    const source = join(base, 'src');
    mkdirSync(join(source, 'bin'), { recursive: true });
    writeFileSync(join(source, 'bin', 'app.bin'), big);
    writeFileSync(join(source, 'readme.txt'), 'hello from C01\n');
    pkg = await h.sites.C01.admin.post<PackageView>('/packages', { name: 'App', source });
    await h.sites.C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('gets the package Installed at S02 and its status up to C01', async () => {
    expect(pkg.id).toMatch(/^C01[0-9A-F]{5}$/);
    await waitForPackageState(h.sites.S02, pkg.id, 'S02', 'Installed');
    const atCentral = await waitForPackageState(h.sites.C01, pkg.id, 'S02', 'Installed');
    expect(atCentral.sourceVersion).toBe(1);
    const messages = await h.sites.C01.admin.get<StatusMessage[]>('/status/messages', {
      site: 'S02',
      component: 'dp',
    });
    expect(messages.some((m) => m.text.includes('installed on DP S02'))).toBe(true);
  });

  it('serves the file from S02 with Range, HEAD, a strong ETag and correct 206/304/416', async () => {
    await waitForPackageState(h.sites.S02, pkg.id, 'S02', 'Installed');
    const url = `${h.sites.S02.url}/dp/${pkg.id}/bin/app.bin`;
    const etag = `"${sha256(big)}"`;

    const full = await fetch(url);
    expect(full.status).toBe(200);
    expect(full.headers.get('etag')).toBe(etag);
    expect(Buffer.from(await full.arrayBuffer()).equals(big)).toBe(true);

    const parts: Buffer[] = [];
    for (let start = 0; start < big.length; start += 1024 * 1024) {
      const end = Math.min(big.length, start + 1024 * 1024) - 1;
      const res = await fetch(url, { headers: { range: `bytes=${start}-${end}`, 'if-range': etag } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${big.length}`);
      parts.push(Buffer.from(await res.arrayBuffer()));
    }
    expect(Buffer.concat(parts).equals(big)).toBe(true);

    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(big.length));
    expect((await fetch(url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(url, { headers: { range: `bytes=${big.length + 10}-` } })).status).toBe(416);
    const several = await fetch(url, { headers: { range: 'bytes=0-9,100-109' } });
    expect(several.status).toBe(200);
    expect(Buffer.from(await several.arrayBuffer()).equals(big)).toBe(true);
    const stale = await fetch(url, { headers: { range: 'bytes=0-9', 'if-range': '"0000"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('serves nothing that is not installed on that DP', async () => {
    expect((await fetch(`${h.sites.P01.url}/dp/${pkg.id}/readme.txt`)).status).toBe(404);
    const missing = await fetch(`${h.sites.S02.url}/dp/${pkg.id}/nope.txt`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('OUTPOST_FILE_NOT_FOUND');
    expect((await fetch(`${h.sites.S02.url}/dp/${pkg.id}/..%2F..%2Fsite.json`)).status).toBe(400);
  });

  it('answers the CLI with the JSON shapes scripts rely on', async () => {
    await waitForPackageState(h.sites.C01, pkg.id, 'S02', 'Installed');
    const data = ['--data', h.sites.C01.dataDir, '--json'];
    const sites = JSON.parse((await cli(['site', 'list', ...data])).stdout) as Record<string, unknown>[];
    expect(sites.map((s) => s.code).sort()).toEqual(['C01', 'P01', 'S02']);
    for (const s of sites)
      for (const key of ['code', 'type', 'parent', 'state', 'generation', 'lastContact', 'url'])
        expect(s).toHaveProperty(key);
    expect(sites.find((s) => s.code === 'S02')?.parent).toBe('P01');

    const shown = JSON.parse((await cli(['site', 'show', 'P01', ...data])).stdout) as {
      phases: { name: string; state: string }[];
    };
    expect(shown.phases).toContainEqual(expect.objectContaining({ name: 'registration', state: 'done' }));

    const statuses = JSON.parse((await cli(['status', 'packages', ...data])).stdout) as Record<
      string,
      unknown
    >[];
    expect(statuses).toContainEqual(
      expect.objectContaining({
        package: pkg.id,
        sourceVersion: 1,
        site: 'S02',
        dp: 'S02',
        state: 'Installed',
        error: null,
      }),
    );

    const jobs = JSON.parse(
      (await cli(['job', 'list', '--data', h.sites.P01.dataDir, '--json'])).stdout,
    ) as Record<string, unknown>[];
    expect(jobs).toContainEqual(
      expect.objectContaining({
        site: 'S02',
        kind: 'package',
        state: 'completed',
        bytesTotal: big.length + 15,
        attempts: 1,
        lastError: null,
      }),
    );

    const messages = JSON.parse((await cli(['status', 'messages', ...data])).stdout) as Record<
      string,
      unknown
    >[];
    for (const key of ['id', 'severity', 'component', 'site', 'text', 'package', 'job', 'subject', 'time'])
      expect(messages[0]).toHaveProperty(key);

    const logs = await cli(['logs', 'dp', '--data', h.sites.S02.dataDir]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('installed');
    const elsewhere = await cli(['logs', 'dp', '--site', 'S02', '--data', h.sites.C01.dataDir]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('logs of site S02 are kept at S02');
  });
});
