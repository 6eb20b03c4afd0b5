import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PollSummary } from '../../src/client/index.js';
import { limitConcurrency } from '../../src/common/index.js';
import { freePort, type Hierarchy, type SiteSpec, startHierarchy, waitFor } from '../../src/demo/index.js';
import type { BoundaryView, DeploymentSummary, DeploymentView } from '../../src/mp/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { cli, metric, tempDir, waitForPackageState } from './helpers.js';

/** The central site with two branch sites under it. */
const TWO_BRANCHES: SiteSpec[] = [
  { code: 'C01', type: 'central' },
  { code: 'S02', type: 'secondary', parent: 'C01' },
  { code: 'S03', type: 'secondary', parent: 'C01' },
];

const PER_SITE = 10;

describe('client agents on C01 → S02, S03: each gets its own site’s policy and content', () => {
  const base = tempDir('e2e-clients');
  let h: Hierarchy;
  let pkg: PackageView;
  let deployment: string;
  const dataOf = (name: string) => join(base, 'clients', name);
  const run = (name: string, args: string[]) => cli(['client', 'run', '--data', dataOf(name), ...args]);

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_BRANCHES);
    const { C01, S02, S03 } = h.sites;
    const source = join(base, 'app');
    mkdirSync(source);
    // Running it leaves a trace: one line per run, with the client's id.
    writeFileSync(join(source, 'setup.sh'), 'echo "$OUTPOST_CLIENT_ID" >> installed.txt\necho installed\n');
    writeFileSync(join(source, 'payload.bin'), randomBytes(300_000));
    pkg = await C01.admin.post<PackageView>('/packages', { name: 'App', source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02', 'S03'] });
    await C01.admin.post('/boundaries', { site: 'S02', range: '127.0.2.0/24', name: 's02' });
    await C01.admin.post('/boundaries', { site: 'S03', range: '127.0.3.0/24', name: 's03' });
    deployment = (
      await C01.admin.post<DeploymentView>('/deployments', {
        package: pkg.id,
        command: 'sh setup.sh',
        sites: ['S02', 'S03'],
      })
    ).id;
    for (const site of [S02, S03]) {
      await waitForPackageState(C01, pkg.id, site.code, 'Installed');
      await waitFor(`the boundary and deployment at ${site.code}`, 30_000, async () => {
        const b = await site.admin.get<BoundaryView[]>('/boundaries');
        const d = await site.admin.get<DeploymentView[]>('/deployments');
        return b.some((x) => x.site === site.code) && d.some((x) => x.id === deployment);
      });
    }
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('bad options exit 2 with one line; an unreachable MP with --once exits 1 naming it', async () => {
    const mp = h.sites.S02.url;
    const runs = [
      ['--mp', 'nope'],
      ['--mp', '127.0.0.1:8471'],
      ['--mp', 'ftp://127.0.0.1/'],
      ['--mp', mp, '--bind', '999.1.1.1'],
      ['--mp', mp, '--bind', '192.0.2.1'],
      ['--mp', mp, '--rate-limit', '0'],
      ['--mp', mp, '--rate-limit', 'fast'],
      ['--mp', mp, '--interval', 'soon'],
      ['--mp', mp, '--interval', '10ms'],
      [],
    ];
    const results = await Promise.all(runs.map((args) => run('bad', [...args, '--once'])));
    for (const [i, r] of results.entries()) {
      expect(r.code, `${runs[i].join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(existsSync(dataOf('bad'))).toBe(false);

    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await run('unreachable', ['--mp', closed, '--once', '--bind', '127.0.2.99']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`cannot reach the management point at ${closed}`);
  });

  it(`${2 * PER_SITE} agents (--once) all succeed, each from its own site’s DP; C01 counts them; a second run does nothing`, async () => {
    const { C01, S02, S03 } = h.sites;
    const limit = limitConcurrency(4);
    const clients = [
      ...Array.from({ length: PER_SITE }, (_, i) => ({
        name: `s02-${i}`,
        bind: `127.0.2.${10 + i}`,
        site: S02,
      })),
      // These ask C01 first, which sends them on to S03's MP.
      ...Array.from({ length: PER_SITE }, (_, i) => ({
        name: `s03-${i}`,
        bind: `127.0.3.${10 + i}`,
        site: S03,
      })),
    ];
    const results = await Promise.all(
      clients.map((c) =>
        limit(() =>
          run(c.name, [
            ...['--mp', c.site === S02 ? S02.url : C01.url, '--bind', c.bind],
            ...['--name', c.name, '--once', '--json'],
          ]),
        ),
      ),
    );
    const ids = new Map<string, string>();
    for (const [i, r] of results.entries()) {
      const c = clients[i];
      expect(r.code, `${c.name}: ${r.stderr}`).toBe(0);
      const summary = JSON.parse(r.stdout) as PollSummary;
      expect(summary).toMatchObject({ assigned: true, site: c.site.code, address: c.bind, mp: c.site.url });
      expect(summary.deployments).toEqual([
        expect.objectContaining({
          deployment,
          state: 'succeeded',
          exitCode: 0,
          dp: `${c.site.url}/dp/${pkg.id}/`,
        }),
      ]);
      expect(summary.deployments[0].fetched).toBe(pkg.files.reduce((n, f) => n + f.size, 0));
      const folder = join(dataOf(c.name), 'packages', pkg.id, String(pkg.sourceVersion));
      expect(readFileSync(join(folder, 'installed.txt'), 'utf8')).toBe(`${summary.client}\n`);
      ids.set(c.name, summary.client);
    }
    expect(new Set(ids.values()).size).toBe(2 * PER_SITE);

    const rows = await waitFor('20 successes at C01', 60_000, async () => {
      const shown = await cli(['status', 'deployments', '--json', '--data', C01.dataDir]);
      const list = JSON.parse(shown.stdout) as DeploymentSummary[];
      const mine = list.filter((x) => x.deployment === deployment);
      return mine.reduce((n, x) => n + x.succeeded, 0) === 2 * PER_SITE ? mine : undefined;
    });
    expect(rows.map((x) => [x.site, x.succeeded, x.failed, x.inProgress, x.unknown]).sort()).toEqual([
      ['S02', PER_SITE, 0, 0, 0],
      ['S03', PER_SITE, 0, 0, 0],
    ]);

    // Again: the same key is the same client; nothing is fetched and nothing runs.
    const servedBefore = await metric(S02.url, 'outpost_dp_requests_total');
    const again = await run('s02-3', ['--mp', S02.url, '--bind', '127.0.2.13', '--once', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout) as PollSummary;
    expect(summary.client).toBe(ids.get('s02-3'));
    expect(summary.deployments).toMatchObject([{ deployment, state: 'skipped', fetched: 0, dp: null }]);
    expect(await metric(S02.url, 'outpost_dp_requests_total')).toBe(servedBefore);
    const folder = join(dataOf('s02-3'), 'packages', pkg.id, String(pkg.sourceVersion));
    expect(readFileSync(join(folder, 'installed.txt'), 'utf8')).toBe(`${summary.client}\n`);
  }, 180_000);

  it('on a terminal-less stdout an agent prints one line per event', async () => {
    const { S02 } = h.sites;
    const r = await run('human', ['--mp', S02.url, '--bind', '127.0.2.50', '--once']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(
      /^client [0-9a-f]{16} registered at S02 \(boundary s02, address 127\.0\.2\.50\)/,
    );
    expect(lines[1]).toContain(`${deployment}: downloading ${pkg.id} (`);
    expect(lines[1]).toContain(`from DP S02 ${S02.url}/dp/${pkg.id}/`);
    expect(lines[2]).toMatch(new RegExp(`^${deployment}: verified 2 file\\(s\\) of ${pkg.id} from DP S02`));
    expect(lines[3]).toBe(`${deployment}: ran 'sh setup.sh': exit 0 (success)`);
    expect(lines[4]).toBe(`${deployment}: reported succeeded`);
  });

  it('an agent outside every boundary says so in one line and runs nothing', async () => {
    const { S02 } = h.sites;
    const human = await run('outside', ['--mp', S02.url, '--bind', '127.0.9.9', '--once']);
    expect(human.code, human.stderr).toBe(0);
    const lines = human.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/is not managed here: address 127\.0\.9\.9 is in no boundary .*nothing runs/);
    const json = await run('outside', ['--mp', S02.url, '--bind', '127.0.9.9', '--once', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      assigned: false,
      reason: 'outside-boundaries',
      address: '127.0.9.9',
      deployments: [],
    });
    expect(existsSync(join(dataOf('outside'), 'packages'))).toBe(false);
  });
});
