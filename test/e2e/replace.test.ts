import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/apiclient/index.js';
import { type Hierarchy, spawnSite, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { S2S } from '../../src/s2s/index.js';
import type { ReplaceSiteResult, SiteView } from '../../src/sites/index.js';
import type { PackageStatus, StatusMessage } from '../../src/status/index.js';
import { cli, identityOf, sha256, signedPost, tempDir, waitForPackageState } from './helpers.js';

describe('site replace: new hardware for S02 without deleting it', () => {
  const base = tempDir('e2e-replace');
  let h: Hierarchy;

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('bad input exits 2 with one line and changes nothing', async () => {
    const { C01 } = h.sites;
    for (const code of ['Q42', 'C01', 's2']) {
      const r = await cli(['site', 'replace', code, '--data', C01.dataDir]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/Q42 is not known|C01 is this site|s2/);
    }
    const s02 = await C01.admin.get<SiteView & { phases: unknown[] }>('/sites/S02');
    expect(s02.state).toBe('active');
  });

  it('the new host joins with the token, the old generation is refused, and the assigned packages arrive by themselves', async () => {
    const { C01, S02 } = h.sites;
    const files: Record<string, Buffer> = {};
    const packages: string[] = [];
    for (const name of ['One', 'Two']) {
      const source = join(base, name);
      mkdirSync(source);
      files[name] = randomBytes(3 * 1024 * 1024 + 17);
      writeFileSync(join(source, 'app.bin'), files[name]);
      const pkg = await C01.admin.post<PackageView>('/packages', { name, source });
      await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
      packages.push(pkg.id);
    }
    for (const id of packages) await waitForPackageState(C01, id, 'S02', 'Installed');
    const old = identityOf(S02.dataDir);

    const replaced = await cli(['site', 'replace', 'S02', '--data', C01.dataDir, '--json']);
    expect(replaced.code, replaced.stderr).toBe(0);
    const token = (JSON.parse(replaced.stdout) as ReplaceSiteResult).joinToken;
    // Until the new host joins, the old one serves the branch: its signed requests are accepted.
    const before = await signedPost(C01.url, S2S.heartbeat, { time: Date.now() }, old);
    expect(before.status).toBe(200);

    await S02.process.stop();
    const newDir = join(base, 'S02-new');
    const joined = await cli([
      'site',
      'join',
      '--data',
      newDir,
      '--parent',
      C01.url,
      '--token',
      token,
      '--json',
    ]);
    expect(joined.code, joined.stderr).toBe(0);
    const fresh = identityOf(newDir);
    expect(fresh.generation).not.toBe(old.generation);

    // From the moment the new host registered, the old generation is refused, as after a delete.
    const after = await signedPost(C01.url, S2S.heartbeat, { time: Date.now() }, old);
    expect(after.status).toBe(401);
    expect(await after.text()).toMatch(/generation/);

    const process = await spawnSite(newDir, S02.url, ['--heartbeat', '1s']);
    h.sites.S02 = { ...S02, dataDir: newDir, process, admin: await AdminClient.from({ data: newDir }) };
    await waitFor('the new S02 active at C01', 30_000, async () => {
      const s = await C01.admin.get<SiteView>('/sites/S02');
      return s.state === 'active' && s.generation === fresh.generation;
    });
    // Nobody assigned anything again: the packages go to the new host because they are assigned.
    for (const id of packages) await waitForPackageState(C01, id, 'S02', 'Installed');
    for (const [i, name] of ['One', 'Two'].entries()) {
      const res = await fetch(`${S02.url}/dp/${packages[i]}/app.bin`);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(files[name]));
    }
    const newStatus = await h.sites.S02.admin.get<PackageStatus[]>('/status/packages');
    expect(
      newStatus
        .filter((s) => s.state === 'Installed')
        .map((s) => s.package)
        .sort(),
    ).toEqual([...packages].sort());
    const jobs = await C01.admin.get<JobView[]>('/jobs', { site: 'S02' });
    expect(jobs.filter((j) => j.state === 'completed')).toHaveLength(4);

    // The history stays: the old host's messages and the replace, with both generations.
    const messages = await C01.admin.get<StatusMessage[]>('/status/messages', { site: 'S02', limit: 1000 });
    const texts = messages.map((m) => m.text);
    expect(texts).toContain('site S02 is installed and active');
    expect(texts.some((t) => t.startsWith('replacement of site S02 prepared'))).toBe(true);
    expect(
      texts.some(
        (t) =>
          t.includes(`generation ${old.generation} fenced`) &&
          t.includes(`new generation ${fresh.generation}`),
      ),
    ).toBe(true);
    expect(texts.filter((t) => t === 'site S02 is installed and active')).toHaveLength(2);

    // The old install is cleaned from its folder; the new one, same code and address, runs on.
    const purge = await cli(['host', 'purge', '--data', S02.dataDir, '--code', 'S02', '--yes', '--json']);
    expect(purge.code, purge.stdout + purge.stderr).toBe(0);
    expect(existsSync(S02.dataDir)).toBe(false);
    expect(existsSync(join(newDir, 'site.json'))).toBe(true);
    expect(process.child.exitCode).toBeNull();
    expect((await fetch(`${S02.url}/healthz`)).status).toBe(200);
    const audit = await cli(['host', 'audit', '--data', newDir, '--code', 'S02', '--json']);
    expect(audit.stdout).toContain(fresh.generation);
  }, 180_000);
});
