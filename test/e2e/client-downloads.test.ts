import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PollSummary } from '../../src/client/index.js';
import { type Hierarchy, OUTPOST_BIN, startHierarchy, TWO_LEVELS, waitFor } from '../../src/demo/index.js';
import type { OutpostError } from '../../src/errors/index.js';
import type { DeploymentSummary, DeploymentView } from '../../src/mp/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { cli, sha256, tempDir, waitForPackageState } from './helpers.js';
import { TestProxy } from './proxy.js';

const BIG = 2 * 1024 * 1024;

describe('client downloads through faulty links: resume, corruption, fallback, rate limit', () => {
  const base = tempDir('e2e-client-downloads');
  let h: Hierarchy;
  let pkg: PackageView;
  let big: Buffer;
  let total: number;
  let toS02: TestProxy;
  let toC01: TestProxy;

  /** A client agent's data directory, registered at S02 (a first run, with nothing to do yet). */
  async function newClient(name: string, bind: string): Promise<{ data: string; id: string; bind: string }> {
    const data = join(base, 'clients', name);
    const summary = await runOnce({ data, bind });
    expect(summary).toMatchObject({ assigned: true, site: 'S02', deployments: [] });
    return { data, id: summary.client, bind };
  }
  const folderOf = (data: string) => join(data, 'packages', pkg.id, String(pkg.sourceVersion));
  const runArgs = (data: string, bind: string) => [
    ...['client', 'run', '--mp', h.sites.S02.url, '--data', data, '--bind', bind, '--once', '--json'],
  ];

  /** Runs the agent of `c` once; it must exit with `code`. Returns its summary. */
  async function runOnce(
    c: { data: string; bind: string },
    code = 0,
    extra: string[] = [],
  ): Promise<PollSummary> {
    const r = await cli([...runArgs(c.data, c.bind), ...extra]);
    expect(r.code, r.stderr).toBe(code);
    return JSON.parse(r.stdout) as PollSummary;
  }

  /** A deployment of the package for one client, once S02 holds it. */
  async function deployFor(client: string, fallback: boolean, workdir?: string): Promise<string> {
    const { C01, S02 } = h.sites;
    // C01 knows the client once its registration has come up from S02.
    const d = await waitFor(`a deployment for client ${client}`, 30_000, () =>
      C01.admin
        .post<DeploymentView>('/deployments', {
          package: pkg.id,
          command: 'sh setup.sh',
          clients: [client],
          fallback,
          workdir,
        })
        .catch((err: OutpostError) => {
          if (err.code === 'OUTPOST_CLIENT_NOT_FOUND') return undefined;
          throw err;
        }),
    );
    await waitFor(`${d.id} at S02`, 30_000, async () =>
      (await S02.admin.get<DeploymentView[]>('/deployments')).some((x) => x.id === d.id),
    );
    return d.id;
  }

  /** The requests for big.bin that reached a DP through `proxy`, with their Range and If-Range. */
  function bigRequests(proxy: TestProxy): { range: string | null; ifRange: string | null }[] {
    const text = (proxy.sent ?? []).join('');
    return text
      .split(/\r\n\r\n/)
      .filter((head) => /^GET \S*big\.bin HTTP/m.test(head))
      .map((head) => ({
        range: /^range: (.*)$/im.exec(head)?.[1] ?? null,
        ifRange: /^if-range: (.*)$/im.exec(head)?.[1] ?? null,
      }));
  }

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    const { C01, S02 } = h.sites;
    toS02 = new TestProxy(Number(new URL(S02.url).port));
    toC01 = new TestProxy(Number(new URL(C01.url).port));
    await toS02.listen();
    await toC01.listen();
    // A named DP at each site whose URL is the proxy in front of that site.
    for (const [site, proxy] of [
      [S02, toS02],
      [C01, toC01],
    ] as const) {
      const args = ['dp', 'add', '--site', site.code, '--name', 'edge', '--url', `${proxy.url}/dps/edge/`];
      const added = await cli([...args, '--data', site.dataDir]);
      expect(added.code, added.stderr).toBe(0);
    }
    await waitFor('C01 knows S02/edge', 30_000, async () =>
      (await C01.admin.get<{ dp: string }[]>('/dps')).some((d) => d.dp === 'S02/edge'),
    );
    const source = join(base, 'app');
    mkdirSync(source);
    big = randomBytes(BIG);
    writeFileSync(join(source, 'big.bin'), big);
    // Running it leaves a trace in the package folder: one line per run.
    writeFileSync(join(source, 'setup.sh'), 'echo "$OUTPOST_DEPLOYMENT" >> ran.txt\n');
    pkg = await C01.admin.post<PackageView>('/packages', { name: 'Big', source });
    total = pkg.files.reduce((n, f) => n + f.size, 0);
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02/edge', 'C01/edge'] });
    await C01.admin.post('/boundaries', { site: 'S02', range: '127.0.2.0/24', name: 's02' });
    await waitForPackageState(C01, pkg.id, 'S02/edge', 'Installed');
    await waitForPackageState(C01, pkg.id, 'C01/edge', 'Installed');
  }, 120_000);
  afterAll(async () => {
    await toS02?.close();
    await toC01?.close();
    await h?.stop();
  });

  it('a download cut mid-file resumes from the bytes it holds (Range, If-Range), fetching the file once', async () => {
    const a = await newClient('a', '127.0.2.21');
    const deployment = await deployFor(a.id, false);
    toS02.sent = [];
    const before = toS02.bytesFromTarget;
    toS02.cutFromTargetAfter(700_000);
    const summary = await runOnce(a);
    expect(summary.deployments).toEqual([
      expect.objectContaining({
        deployment,
        state: 'succeeded',
        exitCode: 0,
        dp: `${toS02.url}/dps/edge/${pkg.id}/`,
      }),
    ]);
    const requests = bigRequests(toS02);
    expect(requests).toHaveLength(2);
    expect(requests[0]).toEqual({ range: null, ifRange: null });
    const held = Number(/^bytes=(\d+)-$/.exec(requests[1].range ?? '')?.[1]);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(700_000);
    expect(requests[1].ifRange).toBe(`"${sha256(big)}"`);
    // Every byte once: the body bytes written are the files' size. The link carries a little more:
    // headers, and what was in flight when the connection was cut (never written, so asked for again).
    expect(summary.deployments[0].fetched).toBe(total);
    expect(toS02.bytesFromTarget - before).toBeLessThan(total * 1.1);
    expect(readFileSync(join(folderOf(a.data), 'big.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(folderOf(a.data), 'ran.txt'), 'utf8')).toBe(`${deployment}\n`);
  }, 60_000);

  it('an agent stopped mid-download keeps the part; run again, it asks only for the rest', async () => {
    const b = await newClient('b', '127.0.2.22');
    const deployment = await deployFor(b.id, false);
    toS02.sent = [];
    toS02.holdFromTargetAfter(900_000);
    const child = spawn(process.execPath, [OUTPOST_BIN, ...runArgs(b.data, b.bind)], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const part = join(b.data, 'downloads', `${sha256(big)}.part`);
    await waitFor('part of big.bin on disk', 30_000, async () => existsSync(part) && statSync(part).size > 0);
    child.kill('SIGTERM');
    expect(await exited).toBe(1);
    toS02.release();
    const state = JSON.parse(readFileSync(join(b.data, 'downloads', `${sha256(big)}.json`), 'utf8')) as {
      bytes: number;
    };
    expect(state.bytes).toBeGreaterThan(0);
    expect(existsSync(join(folderOf(b.data), 'ran.txt'))).toBe(false);

    const summary = await runOnce(b);
    expect(summary.deployments).toMatchObject([{ deployment, state: 'succeeded' }]);
    const requests = bigRequests(toS02);
    expect(requests.map((q) => q.range)).toEqual([null, `bytes=${state.bytes}-`]);
    expect(summary.deployments[0].fetched).toBe(total - state.bytes);
    expect(readFileSync(join(folderOf(b.data), 'big.bin')).equals(big)).toBe(true);
    expect(readdirSync(join(b.data, 'downloads'))).toEqual([]);
  }, 60_000);

  it('a DP that serves a damaged byte is caught before anything runs; the agent falls back to the next DP', async () => {
    const c = await newClient('c', '127.0.2.23');
    const deployment = await deployFor(c.id, true);
    toS02.sent = [];
    toC01.sent = [];
    toS02.corruptEachFromTarget(300_000);
    try {
      const summary = await runOnce(c);
      expect(summary.deployments).toEqual([
        expect.objectContaining({ deployment, state: 'succeeded', dp: `${toC01.url}/dps/edge/${pkg.id}/` }),
      ]);
      // S02/edge twice (a second try), each damaged; then C01/edge.
      expect(bigRequests(toS02)).toHaveLength(2);
      expect(bigRequests(toC01)).toHaveLength(1);
      expect(readFileSync(join(folderOf(c.data), 'big.bin')).equals(big)).toBe(true);
      expect(readFileSync(join(folderOf(c.data), 'ran.txt'), 'utf8')).toBe(`${deployment}\n`);
    } finally {
      toS02.corruptEachFromTarget(null);
    }
  }, 60_000);

  it('when no DP serves it intact: failed, reported with the reason, nothing run, nothing kept; a later poll succeeds', async () => {
    const { C01 } = h.sites;
    const d = await newClient('d', '127.0.2.24');
    const deployment = await deployFor(d.id, true);
    toS02.corruptEachFromTarget(300_000);
    toC01.corruptEachFromTarget(300_000);
    try {
      const summary = await runOnce(d, 1);
      expect(summary.deployments).toEqual([
        expect.objectContaining({ deployment, state: 'failed', exitCode: null, dp: null }),
      ]);
      expect(summary.deployments[0].reason).toMatch(
        /^no DP served .*S02\/edge: big\.bin .* has SHA-256 .*C01\/edge: /,
      );
      expect(existsSync(join(folderOf(d.data), 'ran.txt'))).toBe(false);
      expect(existsSync(join(folderOf(d.data), 'big.bin'))).toBe(false);
      expect(readdirSync(join(d.data, 'downloads'))).toEqual([]);
      await waitFor('the failure at C01', 30_000, async () => {
        const rows = await C01.admin.get<DeploymentSummary[]>('/status/deployments');
        const row = rows.find((x) => x.deployment === deployment);
        return row?.failed === 1 && row.clients[0]?.output?.includes('SHA-256') ? row : undefined;
      });
    } finally {
      toS02.corruptEachFromTarget(null);
      toC01.corruptEachFromTarget(null);
    }
    expect((await runOnce(d)).deployments).toMatchObject([{ deployment, state: 'succeeded' }]);
    expect(readFileSync(join(folderOf(d.data), 'ran.txt'), 'utf8')).toBe(`${deployment}\n`);
  }, 60_000);

  it('--rate-limit caps the download rate', async () => {
    const e = await newClient('e', '127.0.2.25');
    await deployFor(e.id, false);
    const started = Date.now();
    const summary = await runOnce(e, 0, ['--rate-limit', '512']);
    const took = Date.now() - started;
    expect(summary.deployments).toMatchObject([{ state: 'succeeded', fetched: total }]);
    // 2 MiB at 512 KiB/s, the first second's 512 KiB free: at least 3 s.
    expect(took).toBeGreaterThanOrEqual(3000);
  }, 60_000);

  it('a workdir that would leave the package folder fails the deployment before anything is fetched', async () => {
    const f = await newClient('f', '127.0.2.26');
    const deployment = await deployFor(f.id, false, '../../../..');
    const summary = await runOnce(f, 1);
    expect(summary.deployments).toEqual([
      expect.objectContaining({
        deployment,
        state: 'failed',
        fetched: 0,
        reason: expect.stringContaining("'..'"),
      }),
    ]);
    expect(existsSync(join(f.data, 'packages'))).toBe(false);
  }, 60_000);
});
