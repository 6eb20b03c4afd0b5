import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/common/index.js';
import { type Hierarchy, startHierarchy, TWO_LEVELS } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { generateSiteKeys, S2S } from '../../src/s2s/index.js';
import type { AddSiteResult, SiteView } from '../../src/sites/index.js';
import type { StatusMessage } from '../../src/status/index.js';
import { cli, identityOf, metric, signedNdjson, signedPost, tempDir } from './helpers.js';

describe('bad input gets a clear error and changes nothing', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-bad');
  let data: string[];

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    data = ['--data', h.sites.C01.dataDir];
  });

  afterAll(async () => {
    await h?.stop();
  });

  async function siteCodes(): Promise<string[]> {
    return (await h.sites.C01.admin.get<SiteView[]>('/sites')).map((s) => s.code);
  }

  // Some fifteen command-line calls, each a new process: slow on a loaded machine.
  it('malformed site codes and package ids: exit 2 with a one-line reason', async () => {
    const before = await siteCodes();
    for (const code of ['c1', 'S0', 'S002', 'S-2']) {
      const r = await cli([
        'site',
        'add',
        '--code',
        code,
        '--type',
        'secondary',
        '--url',
        'http://127.0.0.1:1',
        ...data,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`site code '${code}' is not valid`);
    }
    expect(await siteCodes()).toEqual(before);
    for (const id of ['C01', 'c0100001', 'C01000G1', 'C01000011']) {
      const r = await cli(['package', 'show', id, ...data]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`package id '${id}' is not valid`);
    }
    const r = await cli([
      'site',
      'add',
      '--code',
      'S03',
      '--type',
      'tertiary',
      '--url',
      'http://127.0.0.1:1',
      ...data,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("site type 'tertiary'");
    const unknownOption = await cli(['site', 'list', '--bogus', ...data]);
    expect(unknownOption.code).toBe(2);
  }, 120_000);

  it('a source folder with a symlink or an unsafe name is refused and creates no package', async () => {
    const src = join(base, 'evil-src');
    mkdirSync(src);
    writeFileSync(join(src, 'ok.txt'), 'fine');
    symlinkSync('/etc/passwd', join(src, 'passwd'));
    const r = await cli(['package', 'create', '--name', 'Evil', '--source', src, ...data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'passwd' in the source is a symbolic link");
    const src2 = join(base, 'evil-src2');
    mkdirSync(src2);
    writeFileSync(join(src2, 'a\\..\\b'), 'x');
    const r2 = await cli(['package', 'create', '--name', 'Evil', '--source', src2, ...data]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('backslash');
    const missing = await cli([
      'package',
      'create',
      '--name',
      'Nope',
      '--source',
      join(base, 'does-not-exist'),
      ...data,
    ]);
    expect(missing.code).toBe(2);
    expect(await h.sites.C01.admin.get<PackageView[]>('/packages')).toEqual([]);
  });

  it('a parent offering `..` or absolute paths is refused by the child, and nothing is written', async () => {
    const from = identityOf(h.sites.C01.dataDir);
    const chunk = 'a'.repeat(64);
    for (const path of ['../../escape.txt', '/etc/cron.d/evil', 'ok/../../x']) {
      const header = { job: 'j1', id: 'C01000FF', name: 'Evil', sourceVersion: 1, origin: 'C01', files: 1 };
      const file = { path, size: 1, sha256: chunk, chunks: [[chunk, 1]] };
      const res = await signedNdjson(h.sites.S02.url, S2S.offer, [header, file], from);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('OUTPOST_BAD_PATH');
    }
    expect(await h.sites.S02.admin.get<PackageView[]>('/packages')).toEqual([]);
    expect(existsSync(join(base, 'escape.txt'))).toBe(false);
  });

  it('a wrong signature or an old generation is refused with 401 and counted at the receiver', async () => {
    const c01 = identityOf(h.sites.C01.dataDir);
    const forged = { ...c01, privateKeyPem: generateSiteKeys().privateKeyPem };
    const res = await signedPost(
      h.sites.S02.url,
      '/s2s/v1/packages/assignments',
      { job: 'x', package: 'C0100001', sourceVersion: 1, dps: [] },
      forged,
    );
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('OUTPOST_BAD_SIGNATURE');
    const oldGeneration = { ...c01, generation: '00000000-dead-beef' };
    const res2 = await signedPost(
      h.sites.S02.url,
      '/s2s/v1/packages/assignments',
      { job: 'x', package: 'C0100001', sourceVersion: 1, dps: [] },
      oldGeneration,
    );
    expect(res2.status).toBe(401);
    expect(((await res2.json()) as { error: { code: string } }).error.code).toBe('OUTPOST_WRONG_GENERATION');
    const unsigned = await fetch(`${h.sites.C01.url}/s2s/v1/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(unsigned.status).toBe(401);
    // Counted by reason and peer at once; reported in one status message per source and reason
    // a minute later (see hostile-http.test.ts), not one each.
    const rejected = 'outpost_s2s_rejected_total';
    expect(await metric(h.sites.S02.url, rejected, { reason: 'bad-signature', peer: 'C01' })).toBe(1);
    expect(await metric(h.sites.S02.url, rejected, { reason: 'wrong-generation', peer: 'C01' })).toBe(1);
    expect(await metric(h.sites.C01.url, rejected, { reason: 'no-signature', peer: 'unknown' })).toBe(1);
  });

  it('a malformed status report from a child is dropped with a warning, and the rest of its batch applied', async () => {
    const from = identityOf(h.sites.S02.dataDir);
    const good = {
      kind: 'message',
      message: {
        id: 'report-ok-1',
        severity: 'info',
        component: 'dp',
        site: 'S02',
        text: 'a good report',
        package: null,
        job: null,
        time: Date.now(),
      },
    };
    // A child that names what a message is about, next to one too old to (`good` has no subject).
    const about = { kind: 'message', message: { ...good.message, id: 'report-ok-2', subject: 'S09' } };
    const bad = { kind: 'package-status', status: { package: 'C0100001', state: 42 } };
    const res = await signedPost(h.sites.C01.url, '/s2s/v1/reports', { reports: [bad, good, about] }, from);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ applied: 2, dropped: 1 });
    const messages = await h.sites.C01.admin.get<StatusMessage[]>('/status/messages', {
      component: 'statmgr',
    });
    expect(messages.some((m) => m.text === 'dropped 1 malformed status reports from S02')).toBe(true);
    const dp = await h.sites.C01.admin.get<StatusMessage[]>('/status/messages', {
      site: 'S02',
      component: 'dp',
    });
    expect(dp.find((m) => m.id === 'report-ok-1')?.subject).toBeNull();
    const s09 = await h.sites.C01.admin.get<StatusMessage[]>('/status/messages', { site: 'S09' });
    expect(s09.map((m) => [m.id, m.site, m.subject])).toEqual([['report-ok-2', 'S02', 'S09']]);
  });

  it('an expired join token is refused and leaves no data directory', async () => {
    const added = await h.sites.C01.admin.post<AddSiteResult>('/sites', {
      code: 'X03',
      type: 'secondary',
      url: 'http://127.0.0.1:1',
      joinDeadline: '1s',
    });
    await sleep(1200);
    const dir = join(base, 'X03');
    const r = await cli([
      'site',
      'join',
      '--data',
      dir,
      '--parent',
      h.sites.C01.url,
      '--token',
      added.joinToken,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('join token for X03 expired');
    expect(existsSync(dir)).toBe(false);
    const garbage = await cli([
      'site',
      'join',
      '--data',
      dir,
      '--parent',
      h.sites.C01.url,
      '--token',
      'nonsense',
    ]);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain('join token is malformed');
  });

  it('a join with a code already active, or a second add of it, is refused', async () => {
    const added = await h.sites.C01.admin.post<AddSiteResult>('/sites', {
      code: 'Y04',
      type: 'secondary',
      url: 'http://127.0.0.1:1',
    });
    const first = await cli([
      'site',
      'join',
      '--data',
      join(base, 'Y04a'),
      '--parent',
      h.sites.C01.url,
      '--token',
      added.joinToken,
      '--listen',
      '127.0.0.1:1',
    ]);
    expect(first.code).toBe(0);
    const generation = (await h.sites.C01.admin.get<SiteView>('/sites/Y04')).generation;
    const again = await cli([
      'site',
      'join',
      '--data',
      join(base, 'Y04b'),
      '--parent',
      h.sites.C01.url,
      '--token',
      added.joinToken,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('site Y04 has already joined');
    expect(existsSync(join(base, 'Y04b'))).toBe(false);
    expect((await h.sites.C01.admin.get<SiteView>('/sites/Y04')).generation).toBe(generation);
    const dup = await cli([
      'site',
      'add',
      '--code',
      'S02',
      '--type',
      'secondary',
      '--url',
      'http://127.0.0.1:1',
      ...data,
    ]);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain('site code S02 is already in use');
  });

  it('bad values for addresses, DPs and durations', async () => {
    const cases: [string[], string][] = [
      [['address', 'set', '--to', 'S02', '--schedule', '25-3'], "--schedule '25-3' is not H-H"],
      [['address', 'set', '--to', 'S02', '--retry-delay', 'soon'], "--retry-delay 'soon' is not a duration"],
      [['address', 'set', '--to', 'S02', '--concurrency', '0'], '--concurrency'],
      [['dp', 'assign', 'C0100001', '--dp', 'S02/EA ST'], "DP 'S02/EA ST' is not valid"],
      [
        ['site', 'add', '--code', 'S05', '--type', 'secondary', '--url', 'ftp://x', '--join-deadline', '5s'],
        "--url 'ftp://x'",
      ],
      [['status', 'messages', '--since', 'yesterday-ish'], "--since 'yesterday-ish'"],
    ];
    for (const [args, reason] of cases) {
      const r = await cli([...args, ...data]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(reason);
    }
    const addresses =
      await h.sites.C01.admin.get<{ schedule: string | null; concurrency: number }[]>('/addresses');
    expect(addresses.find((a) => a.schedule !== null)).toBeUndefined();
    const noToken = await cli(['site', 'list', '--server', h.sites.C01.url, '--token', 'wrong']);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('admin API needs a valid bearer token');
  });
});
