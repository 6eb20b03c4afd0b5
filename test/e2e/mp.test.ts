import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/apiclient/index.js';
import { MpClient } from '../../src/client/index.js';
import { type Hierarchy, spawnSite, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { BoundaryView, ClientDetail, DeploymentSummary, DeploymentView } from '../../src/mp/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { generateSiteKeys, type Policy, type Unassigned } from '../../src/s2s/index.js';
import type { AddSiteResult, ReplaceSiteResult, SiteView } from '../../src/sites/index.js';
import { cli, sha256, tempDir, waitForPackageState } from './helpers.js';

/** A test client agent in this process: its own key, calling S02's MP from a loopback address of its own. */
function client(mpUrl: string, bind: string): MpClient {
  return new MpClient(mpUrl, generateSiteKeys().privateKeyPem, { bind });
}

describe('boundaries, deployments and the management point on C01 → S02', () => {
  const base = tempDir('e2e-mp');
  let h: Hierarchy;
  let pkg: PackageView;
  let deployment: string;
  const clients: MpClient[] = [];

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    const source = join(base, 'app');
    mkdirSync(source);
    writeFileSync(join(source, 'setup.sh'), 'echo installed\n');
    pkg = await h.sites.C01.admin.post<PackageView>('/packages', { name: 'App', source });
    await h.sites.C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(h.sites.C01, pkg.id, 'S02', 'Installed');
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await h?.stop();
  });

  const at = (code: string) => ['--data', h.sites[code].dataDir];
  const heldAt = async (code: string) => ({
    boundaries: (await h.sites[code].admin.get<BoundaryView[]>('/boundaries')).map((b) => b.name),
    deployments: (await h.sites[code].admin.get<DeploymentView[]>('/deployments')).map((d) => d.id),
  });

  it('bad input exits 2 with one line and changes nothing', async () => {
    const runs = [
      ['boundary', 'add', '--site', 'S02', '--range', '127.0.2.1/24'],
      ['boundary', 'add', '--site', 'Q99', '--range', '127.0.2.0/24'],
      ['boundary', 'add', '--site', 'S02', '--range', '127.0.2.9-127.0.2.1'],
      ['boundary', 'delete', 'nope', '--yes'],
      ['deployment', 'create', '--package', pkg.id, '--command', 'sh setup.sh'],
      ['deployment', 'create', '--package', pkg.id, '--command', 'x', '--site', 'S02', '--timeout', 'soon'],
      [
        'deployment',
        'create',
        '--package',
        pkg.id,
        '--command',
        'x',
        '--site',
        'S02',
        '--success-codes',
        'a',
      ],
      ['deployment', 'create', '--package', 'C01FFFFF', '--command', 'x', '--site', 'S02'],
      ['deployment', 'delete', 'C01D00009', '--yes'],
      ['client', 'show', 'nothex'],
      ['client', 'show', '0123456789abcdef'],
      ['client', 'list', '--site', 'nope'],
    ];
    const results = await Promise.all(runs.map((args) => cli([...args, ...at('C01')])));
    for (const [i, r] of results.entries()) {
      expect(r.code, `${runs[i].join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(await heldAt('C01')).toEqual({ boundaries: [], deployments: [] });
  });

  it('a boundary and a deployment made at C01 reach S02; a client inside gets the policy with S02’s DP, and its report reaches C01', async () => {
    const added = await cli([
      ...'boundary add --site S02 --range 127.0.2.0/24 --name s02-branch --json'.split(' '),
      ...at('C01'),
    ]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject([
      { name: 's02-branch', site: 'S02', range: '127.0.2.0/24' },
    ]);
    const created = await cli([
      ...`deployment create --package ${pkg.id} --site S02 --timeout 2m --json`.split(' '),
      ...['--command', 'sh setup.sh'],
      ...at('C01'),
    ]);
    expect(created.code, created.stderr).toBe(0);
    deployment = (JSON.parse(created.stdout) as DeploymentView[])[0].id;
    await waitFor('the boundary and deployment at S02', 30_000, async () => {
      const held = await heldAt('S02');
      return held.boundaries.includes('s02-branch') && held.deployments.includes(deployment);
    });

    const inside = client(h.sites.S02.url, '127.0.2.7');
    clients.push(inside);
    expect(await inside.register('pc-7')).toEqual({
      assigned: true,
      client: inside.id,
      site: 'S02',
      boundary: 's02-branch',
      address: '127.0.2.7',
    });
    const policy = (await inside.policy()) as Policy;
    expect(policy.deployments).toHaveLength(1);
    const [d] = policy.deployments;
    expect(d).toMatchObject({
      id: deployment,
      program: { command: 'sh setup.sh', timeoutMs: 120_000, successCodes: [0] },
      package: { id: pkg.id, sourceVersion: 1 },
      dps: [{ dp: 'S02', site: 'S02', url: `${h.sites.S02.url}/dp/${pkg.id}/` }],
    });
    // The DP URL serves the file the policy names.
    const file = d.package.files[0];
    const res = await request(`${d.dps[0].url}${file.path}`);
    expect(sha256(Buffer.from(await res.body.arrayBuffer()))).toBe(file.sha256);
    expect(file.sha256).toBe(sha256(readFileSync(join(base, 'app', 'setup.sh'))));

    await inside.report({ deployment, state: 'in-progress' });
    await inside.report({ deployment, state: 'succeeded', exitCode: 0, output: 'installed\n' });
    await waitFor('the report at C01', 30_000, async () => {
      const rows = await h.sites.C01.admin.get<DeploymentSummary[]>('/status/deployments');
      return rows.some((x) => x.deployment === deployment && x.succeeded === 1);
    });
    const shown = await cli(['status', 'deployments', '--site', 'S02', '--json', ...at('C01')]);
    expect(shown.code, shown.stderr).toBe(0);
    const [row] = JSON.parse(shown.stdout) as DeploymentSummary[];
    expect(row).toMatchObject({ deployment, site: 'S02', succeeded: 1 });
    expect(row).toMatchObject({ package: pkg.id, failed: 0, inProgress: 0, unknown: 0 });
    expect(row.clients).toMatchObject([{ client: inside.id, name: 'pc-7', state: 'succeeded', exitCode: 0 }]);
    // The client, reported up from S02, is listed at C01 with its last report.
    const listed = await cli(['client', 'list', '--site', 'S02', '--json', ...at('C01')]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([
      { id: inside.id, name: 'pc-7', site: 'S02', lastReport: { deployment, state: 'succeeded' } },
    ]);
    const one = await cli(['client', 'show', inside.id, '--json', ...at('C01')]);
    expect(one.code, one.stderr).toBe(0);
    expect((JSON.parse(one.stdout) as ClientDetail).reports).toMatchObject([
      { deployment, package: pkg.id, state: 'succeeded', exitCode: 0, output: 'installed\n' },
    ]);
  });

  it('a client outside every boundary gets a clear answer and no policy', async () => {
    const outside = client(h.sites.S02.url, '127.0.3.9');
    clients.push(outside);
    expect(await outside.register()).toMatchObject({
      assigned: false,
      reason: 'outside-boundaries',
      address: '127.0.3.9',
    });
    await expect(outside.policy()).rejects.toMatchObject({ code: 'OUTPOST_CLIENT_NOT_REGISTERED' });
    // A second client inside, not reported yet, is counted unknown at C01.
    const quiet = client(h.sites.S02.url, '127.0.2.8');
    clients.push(quiet);
    await quiet.register();
    await waitFor('the quiet client unknown at C01', 30_000, async () => {
      const rows = await h.sites.C01.admin.get<DeploymentSummary[]>('/status/deployments', { site: 'S02' });
      return rows.some((r) => r.deployment === deployment && r.unknown === 1 && r.succeeded === 1);
    });
  });

  it('after site replace, the new S02 holds the boundary and deployment, and the client gets its policy again', async () => {
    const { C01, S02 } = h.sites;
    const replaced = await cli(['site', 'replace', 'S02', '--json', ...at('C01')]);
    expect(replaced.code, replaced.stderr).toBe(0);
    const token = (JSON.parse(replaced.stdout) as ReplaceSiteResult).joinToken;
    await S02.process.stop();
    const newDir = join(base, 'S02-new');
    const joined = await cli(['site', 'join', '--data', newDir, '--parent', C01.url, '--token', token]);
    expect(joined.code, joined.stderr).toBe(0);
    const process = await spawnSite(newDir, S02.url, ['--heartbeat', '1s']);
    h.sites.S02 = { ...S02, dataDir: newDir, process, admin: await AdminClient.from({ data: newDir }) };
    await waitFor('the boundary and deployment at the new S02', 30_000, async () => {
      const held = await heldAt('S02');
      return held.boundaries.includes('s02-branch') && held.deployments.includes(deployment);
    });
    // The new host does not know the client's key yet: the client registers again and keeps its id.
    const [inside] = clients;
    await expect(inside.policy()).rejects.toMatchObject({ code: 'OUTPOST_CLIENT_NOT_REGISTERED' });
    expect(await inside.register()).toMatchObject({ assigned: true, client: inside.id, site: 'S02' });
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');
    const policy = await waitFor('the policy with the new DP', 30_000, async () => {
      const p = (await inside.policy()) as Policy;
      return p.deployments[0]?.dps.length ? p : undefined;
    });
    expect(policy.deployments[0].dps).toEqual([{ dp: 'S02', site: 'S02', url: `${S02.url}/dp/${pkg.id}/` }]);
  }, 120_000);

  it('site delete drops its boundaries everywhere; the deployment stays and reaches the site added again', async () => {
    const { C01, S02 } = h.sites;
    const deleted = await cli(['site', 'delete', 'S02', '--yes', ...at('C01')]);
    expect(deleted.code, deleted.stderr).toBe(0);
    // The deleted site stops and removes its install; its address is free for the new one.
    await waitFor('the deleted S02 stopped', 30_000, async () => S02.process.child.exitCode !== null);
    expect(await heldAt('C01')).toEqual({ boundaries: [], deployments: [deployment] });
    expect(await C01.admin.get<DeploymentSummary[]>('/status/deployments', { site: 'S02' })).toMatchObject([
      { deployment, succeeded: 0, unknown: 0, clients: [] },
    ]);

    const added = await C01.admin.post<AddSiteResult>('/sites', {
      code: 'S02',
      type: 'secondary',
      url: S02.url,
    });
    const dataDir = join(base, 'S02-again');
    const joined = await cli([
      'site',
      'join',
      '--data',
      dataDir,
      '--parent',
      C01.url,
      '--token',
      added.joinToken,
    ]);
    expect(joined.code, joined.stderr).toBe(0);
    const process = await spawnSite(dataDir, S02.url, ['--heartbeat', '1s']);
    h.sites.S02 = { ...S02, dataDir, process, admin: await AdminClient.from({ data: dataDir }) };
    await waitFor('S02 active again', 30_000, async () => {
      const s = await C01.admin.get<SiteView>('/sites/S02');
      return s.state === 'active';
    });
    await waitFor('the deployment at the S02 added again', 30_000, async () => {
      const held = await heldAt('S02');
      return held.deployments.includes(deployment) && held.boundaries.length === 0;
    });
    const again = await (async () => {
      const c = client(S02.url, '127.0.2.7');
      clients.push(c);
      return (await c.register()) as Unassigned;
    })();
    expect(again.reason).toBe('outside-boundaries');
  }, 120_000);
});
