import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type Hierarchy, startHierarchy } from '../../src/demo/index.js';
import type { AddSiteResult, PreflightResult, SitePhase, SiteView } from '../../src/sites/index.js';
import { cli, tempDir } from './helpers.js';

describe('preflight before a join changes anything', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-preflight');
  let n = 0;

  beforeAll(async () => {
    h = await startHierarchy(base, [{ code: 'C01', type: 'central' }]);
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** A new pending child of C01 reached at `port`, and a data directory for its join. */
  async function pendingSite(port: number): Promise<{ code: string; token: string; dataDir: string }> {
    const code = `A0${++n}`;
    const added = await h.sites.C01.admin.post<AddSiteResult>('/sites', {
      code,
      type: 'secondary',
      url: `http://127.0.0.1:${port}`,
    });
    return { code, token: added.joinToken, dataDir: join(base, code) };
  }

  async function join_(site: { token: string; dataDir: string }, extra: string[] = []) {
    return cli([
      'site',
      'join',
      '--data',
      site.dataDir,
      '--parent',
      h.sites.C01.url,
      '--token',
      site.token,
      '--root',
      join(base, 'root'),
      ...extra,
    ]);
  }

  function failedCheck(stdout: string, name: string): string | undefined {
    return stdout.split('\n').find((l) => l.includes(name) && l.includes('FAILED'));
  }

  it('doctor --preflight passes on a good setup and changes nothing', async () => {
    const site = await pendingSite(await freePort());
    const r = await cli([
      'doctor',
      '--preflight',
      h.sites.C01.url,
      '--token',
      site.token,
      '--data',
      site.dataDir,
      '--root',
      join(base, 'root'),
      '--json',
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as PreflightResult;
    expect(result.checks.map((c) => c.name)).toEqual([
      'parent reachable',
      'token valid',
      'site code free',
      'clock skew',
      'listen port free',
      'parent reaches this site',
      'disk space',
      'host clean',
    ]);
    expect(result.checks.every((c) => c.ok)).toBe(true);
    expect(existsSync(site.dataDir)).toBe(false);
    expect((await h.sites.C01.admin.get<SiteView>(`/sites/${site.code}`)).state).toBe('pending');
  });

  it('a port already taken is named, and the failed preflight is reported to the parent', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((done) => squatter.listen(port, '127.0.0.1', () => done()));
    const site = await pendingSite(port);
    try {
      const r = await join_(site);
      expect(r.code).toBe(1);
      expect(failedCheck(r.stdout, 'listen port free')).toContain('already in use');
      expect(r.stderr).toContain('preflight failed: listen port free');
      expect(existsSync(site.dataDir)).toBe(false);
      const shown = await h.sites.C01.admin.get<SiteView & { phases: SitePhase[] }>(`/sites/${site.code}`);
      expect(shown.phases).toContainEqual(expect.objectContaining({ name: 'preflight', state: 'failed' }));
      expect(shown.state).toBe('failed');
    } finally {
      await new Promise((done) => squatter.close(done));
    }
    // With the port free again the same token works: a failed preflight changed nothing.
    const retry = await join_(site);
    expect(retry.code, retry.stderr).toBe(0);
    expect((await h.sites.C01.admin.get<SiteView>(`/sites/${site.code}`)).state).toBe('installing');
  });

  it('an unreachable parent is named as a network problem', async () => {
    const site = await pendingSite(await freePort());
    const r = await cli([
      'site',
      'join',
      '--data',
      site.dataDir,
      '--parent',
      `http://127.0.0.1:${await freePort()}`,
      '--token',
      site.token,
    ]);
    expect(r.code).toBe(1);
    expect(failedCheck(r.stdout, 'parent reachable')).toContain('ECONNREFUSED');
    expect(existsSync(site.dataDir)).toBe(false);
  });

  it('a site the parent cannot reach back is named', async () => {
    const site = await pendingSite(await freePort());
    // The child would listen somewhere other than where the parent will look for it.
    const r = await join_(site, ['--listen', `127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    expect(failedCheck(r.stdout, 'parent reaches this site')).toMatch(
      /C01 cannot reach A0\d at http:\/\/127\.0\.0\.1:\d+: network: ECONNREFUSED/,
    );
  });

  it('too little disk is named (with a reserve larger than the disk)', async () => {
    const site = await pendingSite(await freePort());
    const r = await join_(site, ['--reserve', '1000T']);
    expect(r.code).toBe(1);
    expect(failedCheck(r.stdout, 'disk space')).toMatch(/needs 1024000\.0 GiB/);
  });

  it('a wrong token is named, and refused as bad input', async () => {
    const site = await pendingSite(await freePort());
    const wrong = `${site.token.split('.')[0]}.${'x'.repeat(32)}`;
    const r = await join_({ ...site, token: wrong });
    expect(r.code).toBe(2);
    expect(failedCheck(r.stdout, 'token valid')).toContain(`join token for ${site.code} is not valid`);
    expect(r.stderr).toContain(`join token for ${site.code} is not valid`);
  });

  it('a host with leftovers of the site code is named, and the join refused', async () => {
    const site = await pendingSite(await freePort());
    mkdirSync(site.dataDir, { recursive: true });
    writeFileSync(join(site.dataDir, 'site.db'), 'left over');
    const r = await join_(site);
    expect(r.code).toBe(1);
    expect(failedCheck(r.stdout, 'host clean')).toContain('is not a data directory of');
    // Nothing of the leftover was touched.
    expect(existsSync(join(site.dataDir, 'site.db'))).toBe(true);
  });
});
