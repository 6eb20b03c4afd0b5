import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/apiclient/index.js';
import { freePort, type SiteProcess, spawnSite, waitFor } from '../../src/demo/index.js';
import type { SiteConfig } from '../../src/host/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { AddSiteResult, DeleteSummary } from '../../src/sites/index.js';
import { initCentral, joinSite } from '../../src/sites/index.js';
import { cli, metric, tempDir, waitForPackageState } from './helpers.js';
import { TestProxy } from './proxy.js';

const PG_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

async function schemaExists(schema: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (
      ((await client.query('select 1 from information_schema.schemata where schema_name = $1', [schema]))
        .rowCount ?? 0) > 0
    );
  } finally {
    await client.end();
  }
}

const schemaOf = (dataDir: string) =>
  (JSON.parse(readFileSync(join(dataDir, 'site.json'), 'utf8')) as SiteConfig).database?.schema ?? '';

describe('sites on PostgreSQL', () => {
  const base = tempDir('e2e-pg');
  const processes: SiteProcess[] = [];
  let central: { url: string; dataDir: string; admin: AdminClient };
  let centralSchema = '';

  beforeAll(async () => {
    const port = await freePort();
    const dataDir = join(base, 'C01');
    await initCentral({ dataDir, code: 'C01', listen: `127.0.0.1:${port}`, database: PG_URL });
    centralSchema = schemaOf(dataDir);
    const url = `http://127.0.0.1:${port}`;
    processes.push(await spawnSite(dataDir, url, ['--heartbeat', '500ms']));
    central = { url, dataDir, admin: await AdminClient.from({ data: dataDir }) };
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${centralSchema} cascade`);
    await client.end();
  });

  it('a central site on PostgreSQL distributes to a secondary on PostgreSQL; delete removes the secondary and its schema', async () => {
    expect(centralSchema).toMatch(/^outpost_c01_[0-9a-f]{8}$/);
    expect(existsSync(join(central.dataDir, 'db', 'site.db'))).toBe(false);
    const port = await freePort();
    const added = await central.admin.post<AddSiteResult>('/sites', {
      code: 'S02',
      type: 'secondary',
      url: `http://127.0.0.1:${port}`,
    });
    const childDir = join(base, 'S02');
    await joinSite({ dataDir: childDir, parentUrl: central.url, token: added.joinToken, database: PG_URL });
    const childSchema = schemaOf(childDir);
    expect(await schemaExists(childSchema)).toBe(true);
    const child = await spawnSite(childDir, `http://127.0.0.1:${port}`, ['--heartbeat', '500ms']);
    processes.push(child);
    await waitFor(
      'S02 active',
      20_000,
      async () => (await central.admin.get<{ state: string }>('/sites/S02')).state === 'active',
    );

    const source = join(base, 'src');
    mkdirSync(source);
    writeFileSync(join(source, 'tool.bin'), 'x'.repeat(300_000));
    const pkg = await central.admin.post<PackageView>('/packages', { name: 'Tool', source });
    await central.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(central, pkg.id, 'S02', 'Installed', 30_000);
    const res = await fetch(`http://127.0.0.1:${port}/dp/${pkg.id}/tool.bin`);
    expect((await res.text()).length).toBe(300_000);
    // The gauges read from the database at a scrape work on PostgreSQL too.
    expect(await metric(central.url, 'outpost_dp_packages', { dp: 'S02', state: 'Installed' })).toBe(1);
    expect(await metric(central.url, 'outpost_link_jobs', { site: 'S02', state: 'completed' })).toBe(1);
    expect(await metric(central.url, 'outpost_site_state', { site: 'S02', state: 'active' })).toBe(1);
    expect(await metric(central.url, 'outpost_site_contact_age_seconds', { site: 'S02' })).toBeLessThan(30);

    // A new version: the child keeps the chunks the file had (its basis, on PostgreSQL too), and
    // the changed chunk goes as a delta against them.
    writeFileSync(join(source, 'tool.bin'), `${'x'.repeat(150_000)}${'y'.repeat(100)}${'x'.repeat(149_900)}`);
    await central.admin.post(`/packages/${pkg.id}/update`, {});
    await waitForPackageState(central, pkg.id, 'S02', 'Installed', 30_000, 2);
    const v2 = await (await fetch(`http://127.0.0.1:${port}/dp/${pkg.id}/tool.bin`)).text();
    expect(v2.indexOf('y'.repeat(100))).toBe(150_000);
    expect(await metric(`http://127.0.0.1:${port}`, 'outpost_despooler_patched_bytes_total')).toBe(300_000);

    const r = await cli(['site', 'delete', 'S02', '--yes', '--json', '--data', central.dataDir]);
    expect((JSON.parse(r.stdout) as DeleteSummary).told).toBe('stopped and deinstalled');
    await waitFor(
      'S02 to remove its install, schema included',
      20_000,
      async () => !existsSync(childDir) && !(await schemaExists(childSchema)),
    );
  });

  it('two server processes of C01 share its database: a burst of jobs, each sent once, by both; a rate-limited link is sent on by one', async () => {
    // C01 again as two processes on one data directory and database, each running two jobs at most.
    const first = processes[0];
    await first.stop();
    const url2 = `http://127.0.0.1:${await freePort()}`;
    const limits = ['--heartbeat', '500ms', '--max-transfers', '2'];
    const a = await spawnSite(central.dataDir, central.url, limits);
    const b = await spawnSite(central.dataDir, url2, [...limits, '--listen', url2.slice('http://'.length)]);
    processes.push(a, b);

    // S03 behind a proxy that can hold its answers: a job then stays active as long as the test needs.
    const childPort = await freePort();
    const proxy = new TestProxy(childPort);
    const added = await central.admin.post<AddSiteResult>('/sites', {
      code: 'S03',
      type: 'secondary',
      url: `http://127.0.0.1:${await proxy.listen()}`,
    });
    const childDir = join(base, 'S03');
    const listen = `127.0.0.1:${childPort}`;
    await joinSite({ dataDir: childDir, parentUrl: central.url, token: added.joinToken, listen });
    const child = await spawnSite(childDir, `http://${listen}`, ['--heartbeat', '500ms']);
    processes.push(child);
    await waitFor(
      'S03 active',
      20_000,
      async () => (await central.admin.get<{ state: string }>('/sites/S03')).state === 'active',
    );
    const size = 1024 * 1024;
    let made = 0;
    const burst = async (n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++, made++) {
        const source = join(base, `burst-${made}`);
        mkdirSync(source);
        writeFileSync(join(source, 'part.bin'), Buffer.alloc(size, made + 1));
        ids.push((await central.admin.post<PackageView>('/packages', { name: `Burst ${made}`, source })).id);
      }
      for (const id of ids) await central.admin.post(`/packages/${id}/assign`, { dps: ['S03'] });
      return ids;
    };
    const active = async () =>
      (await central.admin.get<JobView[]>('/jobs', { site: 'S03' })).filter((j) => j.state === 'active')
        .length;
    const sentBy = async () => [
      await metric(a.url, 'outpost_sender_bytes_total', { site: 'S03' }),
      await metric(b.url, 'outpost_sender_bytes_total', { site: 'S03' }),
    ];

    // Four at once on the link while S03's answers are held: one process's two slots are not
    // enough, so the other process's sender takes its share.
    await central.admin.put('/addresses/S03', { concurrency: 4 });
    proxy.holdFromTargetAfter(0);
    const ids = await burst(8);
    await waitFor('four jobs active, two in each process', 60_000, async () => (await active()) === 4);
    proxy.release();
    for (const id of ids) await waitForPackageState(central, id, 'S03', 'Installed', 120_000);
    const jobs = await central.admin.get<JobView[]>('/jobs', { site: 'S03' });
    expect(jobs.map((j) => [j.package, j.state, j.attempts]).sort()).toEqual(
      ids.map((id) => [id, 'completed', 1]).sort(),
    );
    // Each package crossed once: what S03 received is the burst, and the two processes' sends add up to it.
    expect(await metric(child.url, 'outpost_despooler_bytes_total')).toBe(8 * size);
    const shared = await sentBy();
    console.log(`bytes sent to S03 by C01's two processes: ${shared.join(' + ')}`);
    expect(shared[0] + shared[1]).toBe(8 * size);
    expect(shared[0]).toBeGreaterThan(0);
    expect(shared[1]).toBeGreaterThan(0);

    // With a rate limit, one process sends on the link (the limit is counted in its memory): the
    // other does not take the two jobs the link's concurrency still allows, round after round.
    await central.admin.put('/addresses/S03', { concurrency: 4, rateLimitKiBps: 2048 });
    proxy.holdFromTargetAfter(0);
    const limited = await burst(4);
    await waitFor('two jobs active', 60_000, async () => (await active()) === 2);
    const rounds = async () => [
      await metric(a.url, 'outpost_sender_rounds_total'),
      await metric(b.url, 'outpost_sender_rounds_total'),
    ];
    const [ra, rb] = await rounds();
    await waitFor('two more sender rounds in each process', 30_000, async () => {
      const [na, nb] = await rounds();
      return na >= ra + 2 && nb >= rb + 2;
    });
    expect(await active()).toBe(2);
    proxy.release();
    for (const id of limited) await waitForPackageState(central, id, 'S03', 'Installed', 120_000);
    const after = await sentBy();
    const deltas = [after[0] - shared[0], after[1] - shared[1]].sort((x, y) => x - y);
    expect(deltas).toEqual([0, 4 * size]);
    await proxy.close();
  });

  it('refuses a --database that is not a postgres URL, creating nothing', async () => {
    const r = await cli(['init', '--code', 'C09', '--data', join(base, 'C09'), '--database', 'mysql://x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--database 'mysql://x' is not a postgres:// URL");
    expect(existsSync(join(base, 'C09'))).toBe(false);
  });
});
