import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/apiclient/index.js';
import { type Hierarchy, spawnSite, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { RebuildCheck, RebuildPlan, RebuildView } from '../../src/rebuild/index.js';
import type { StatusMessage } from '../../src/status/index.js';
import { cli, sha256, tempDir, waitForPackageState } from './helpers.js';

const KiB = 1024;
const SERVE = ['--heartbeat', '1s'];

describe('rebuild: the runbook for new hardware of S02, surviving a kill -9 of the parent', () => {
  const base = tempDir('e2e-rebuild');
  let h: Hierarchy;

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS, SERVE);
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function rebuild(args: string[]) {
    const r = await cli(['rebuild', ...args, '--data', h.sites.C01.dataDir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as RebuildView;
  }
  const step = (v: RebuildView, key: string) => v.steps.find((s) => s.step === key);
  /** `rebuild status` through the API, for polling without a process each time. */
  const status = () => h.sites.C01.admin.get<RebuildView>('/rebuilds/S02');

  it('bad input exits 2 (4xx on the API) and changes nothing', async () => {
    const { C01 } = h.sites;
    for (const args of [
      ['start', 'Q42'],
      ['start', 'S02', '--preload-from', 'relative'],
      ['abort', 'S02', '--yes'],
    ]) {
      const r = await cli(['rebuild', ...args, '--data', C01.dataDir]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const token = readFileSync(join(C01.dataDir, 'admin.token'), 'utf8').trim();
    for (const [method, path, body, status] of [
      ['POST', '/rebuilds/s2', {}, 400],
      ['POST', '/rebuilds/S02', { path: 'move' }, 400],
      ['POST', '/rebuilds/S02/plan', { preloadFromDp: 'http://x', exportTo: '/mnt' }, 400],
      ['GET', '/rebuilds/S02', undefined, 404],
      ['POST', '/rebuilds/S02/resume', {}, 404],
      ['POST', '/rebuilds/S02/abort', undefined, 404],
    ] as const) {
      const res = await fetch(`${C01.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      expect(res.status, `${method} ${path}`).toBe(status);
    }
    const site = await C01.admin.get<{ state: string }>('/sites/S02');
    expect(site.state).toBe('active');
  });

  it('kill -9 of the parent in the middle of the runbook, restart, rebuild resume finishes; status shows every step', async () => {
    const { C01, S02 } = h.sites;
    // Two packages the old host holds (exported, shipped and preloaded), and one of a similar DP
    // (C01's own) that the new site gets by clone: only that one may cross the link.
    const files: Record<string, Buffer> = {};
    const ids: Record<string, string> = {};
    for (const [name, size] of [
      ['One', 200 * KiB],
      ['Two', 150 * KiB],
      ['Clone', 640 * KiB],
    ] as const) {
      const source = join(base, name);
      mkdirSync(source);
      files[name] = randomBytes(size);
      writeFileSync(join(source, 'app.bin'), files[name]);
      ids[name] = (await C01.admin.post<PackageView>('/packages', { name, source })).id;
    }
    for (const name of ['One', 'Two'])
      await C01.admin.post(`/packages/${ids[name]}/assign`, { dps: ['S02'] });
    await C01.admin.post(`/packages/${ids.Clone}/assign`, { dps: ['C01'] });
    for (const name of ['One', 'Two']) await waitForPackageState(C01, ids[name], 'S02', 'Installed');
    await waitForPackageState(C01, ids.Clone, 'C01', 'Installed');
    // A slow link: the cloned package takes seconds to cross it, long enough to kill the parent meanwhile.
    await C01.admin.put('/addresses/S02', { rateLimitKiBps: 64 });
    const disk = join(base, 'shipped-disk');
    const options = ['--export-to', disk, '--clone-from', 'C01', '--join-deadline', '5m'];

    const planned = await cli(['rebuild', 'plan', 'S02', ...options, '--data', C01.dataDir, '--json']);
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout) as RebuildPlan;
    expect(plan).toMatchObject({
      packages: 3,
      bytesLacking: 640 * KiB,
      bytesFromPreload: 350 * KiB,
      lacking: [{ package: ids.Clone }],
      rate: { basis: 'rate limit', limitBytesPerSecond: 64 * KiB },
      seconds: 10,
    });
    const human = await cli(['rebuild', 'plan', 'S02', ...options, '--data', C01.dataDir]);
    expect(human.stdout).toContain('the new host will lack 640.0 KiB (1 package)');

    // Before shipping: the old host exports its content to the disk that travels with the new server.
    let v = await rebuild(['start', 'S02', ...options]);
    expect(v.steps.map((s) => [s.step, s.state])).toEqual([
      ['export', 'waiting'],
      ['replace', 'pending'],
      ['join', 'pending'],
      ['preload', 'pending'],
      ['clone', 'pending'],
      ['verify', 'pending'],
      ['followup', 'pending'],
    ]);
    expect(v.next).toContain(`outpost content export --dp S02 --out ${disk}`);
    const twice = await cli(['rebuild', 'start', 'S02', '--data', C01.dataDir]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('running already');
    const exported = await cli(['content', 'export', '--dp', 'S02', '--out', disk, '--data', S02.dataDir]);
    expect(exported.code, exported.stderr).toBe(0);

    // Hardware arrived: the join token; content for a new host is held until its preload.
    v = await rebuild(['resume', 'S02', '--done', 'export']);
    expect(step(v, 'replace')?.state).toBe('done');
    expect(step(v, 'join')?.state).toBe('waiting');
    expect(v.joinToken).toMatch(/^S02\./);
    expect(v.next).toContain(`--token ${v.joinToken}`);
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
      v.joinToken ?? '',
    ]);
    expect(joined.code, joined.stderr).toBe(0);
    const process = await spawnSite(newDir, S02.url, SERVE);
    h.sites.S02 = { ...S02, dataDir: newDir, process, admin: await AdminClient.from({ data: newDir }) };

    // The join is checked by itself; the packages wait for the preload, held.
    v = await waitFor('the join seen by the runbook', 30_000, async () => {
      const s = await status();
      return step(s, 'preload')?.state === 'waiting' ? s : undefined;
    });
    expect(step(v, 'join')?.detail).toContain('registered and active');
    await waitFor('jobs to the new host held', 30_000, async () => {
      const jobs = await C01.admin.get<(JobView & { waiting: string | null })[]>('/jobs', { site: 'S02' });
      const open = jobs.filter((j) => j.state === 'pending');
      return open.length === 2 && open.every((j) => j.waiting?.includes('held for the new host'));
    });

    // After the reinstall: the preload on the new host, then the runbook clones and verifies.
    const preload = await cli(['content', 'preload', '--dir', disk, '--data', newDir, '--json']);
    expect(preload.code, preload.stderr).toBe(0);
    expect((JSON.parse(preload.stdout) as { imported: string[] }).imported.sort()).toEqual(
      [ids.One, ids.Two].sort(),
    );
    v = await rebuild(['resume', 'S02', '--done', 'preload']);
    expect(step(v, 'clone')?.state).toBe('done');

    // In the middle of it: the cloned package on the slow link, the runbook waiting on it.
    await waitFor(
      'the cloned package on the wire',
      60_000,
      async () => {
        const s = await status();
        const jobs = await C01.admin.get<JobView[]>('/jobs', { package: ids.Clone });
        return (
          ['verify', 'followup'].some((k) => step(s, k)?.state === 'running') &&
          jobs.some((j) => j.state === 'active' && j.bytesSent > 0)
        );
      },
      100,
    );
    await C01.process.kill();
    C01.process = await spawnSite(C01.dataDir, C01.url, SERVE);

    // Its state survived: the steps done stay done, the one at work is found at work.
    const after = await rebuild(['status', 'S02']);
    expect(after.state).toBe('running');
    expect(step(after, 'preload')?.state).toBe('done');
    await C01.admin.put('/addresses/S02', { rateLimitKiBps: null });
    await rebuild(['resume', 'S02']);
    v = await waitFor('the rebuild done', 60_000, async () => {
      const s = await status();
      return s.state === 'done' ? s : undefined;
    });
    expect(v.steps.map((s) => s.step)).toEqual([
      'export',
      'replace',
      'join',
      'preload',
      'clone',
      'verify',
      'followup',
    ]);
    for (const s of v.steps) {
      expect(s.state, s.step).toBe('done');
      expect(s.startedAt, s.step).toBeGreaterThan(0);
      expect(s.finishedAt, s.step).toBeGreaterThanOrEqual(s.startedAt ?? 0);
      expect(s.detail, s.step).toBeTruthy();
    }
    expect(step(v, 'verify')?.detail).toContain('nothing it held was sent again');

    // Nothing already held crossed the link: the preloaded packages' offers found nothing missing.
    const jobs = await C01.admin.get<JobView[]>('/jobs', { site: 'S02' });
    for (const name of ['One', 'Two']) {
      const last = jobs.filter((j) => j.package === ids[name] && j.state === 'completed').at(-1);
      expect(last?.bytesTotal, name).toBe(0);
    }
    for (const name of ['One', 'Two', 'Clone']) {
      await waitForPackageState(C01, ids[name], 'S02', 'Installed');
      const res = await fetch(`${S02.url}/dp/${ids[name]}/app.bin`);
      expect(sha256(Buffer.from(await res.arrayBuffer())), name).toBe(sha256(files[name]));
    }
    const check = await cli(['rebuild', 'check', 'S02', '--data', C01.dataDir, '--json']);
    expect(check.code, check.stderr).toBe(0);
    expect((JSON.parse(check.stdout) as RebuildCheck).notInstalled).toEqual([]);

    // Every step said what it did, in status messages about S02.
    const messages = await C01.admin.get<StatusMessage[]>('/status/messages', {
      site: 'S02',
      component: 'rebuild',
      limit: 1000,
    });
    const texts = messages.map((m) => m.text);
    for (const s of v.steps)
      expect(
        texts.some((t) => t.startsWith(`rebuild of S02: step ${s.step} `) && t.includes(' done')),
        s.step,
      ).toBe(true);
    expect(texts).toContain('rebuild of S02 done: every step is done');

    const shown = await cli(['rebuild', 'status', 'S02', '--data', C01.dataDir]);
    expect(shown.stdout).toContain('rebuild of S02 (replace): done');
    const none = await cli(['rebuild', 'abort', 'S02', '--yes', '--data', C01.dataDir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('the last one is done');
  }, 240_000);
});
