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

  it('two server processes of C01 share its database: a burst of jobs, each sent once, by both', async () => {
    // C01 again as two processes on one data directory and database, each running two jobs at most.
    const first = processes[0];
    await first.stop();
    const url2 = `http://127.0.0.1:${await freePort()}`;
    const limits = ['--heartbeat', '500ms', '--max-transfers', '2'];
    const a = await spawnSite(central.dataDir, central.url, limits);
    const b = await spawnSite(central.dataDir, url2, [...limits, '--listen', url2.slice('http://'.length)]);
    processes.push(a, b);

    const port = await freePort();
    const added = await central.admin.post<AddSiteResult>('/sites', {
      code: 'S03',
      type: 'secondary',
      url: `http://127.0.0.1:${port}`,
    });
    const childDir = join(base, 'S03');
    await joinSite({ dataDir: childDir, parentUrl: central.url, token: added.joinToken });
    const child = await spawnSite(childDir, `http://127.0.0.1:${port}`, ['--heartbeat', '500ms']);
    processes.push(child);
    await waitFor(
      'S03 active',
      20_000,
      async () => (await central.admin.get<{ state: string }>('/sites/S03')).state === 'active',
    );
    // Four at once on the link, slowed so that each job outlasts a sender round: more than one
    // process's two slots are needed, and the other process's sender takes its share.
    await central.admin.put('/addresses/S03', { concurrency: 4, rateLimitKiBps: 1024 });
    const size = 1024 * 1024;
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const source = join(base, `burst-${i}`);
      mkdirSync(source);
      writeFileSync(join(source, 'part.bin'), Buffer.alloc(size, i + 1));
      const pkg = await central.admin.post<PackageView>('/packages', { name: `Burst ${i}`, source });
      ids.push(pkg.id);
    }
    for (const id of ids) await central.admin.post(`/packages/${id}/assign`, { dps: ['S03'] });
    for (const id of ids) await waitForPackageState(central, id, 'S03', 'Installed', 120_000);

    const jobs = await central.admin.get<JobView[]>('/jobs', { site: 'S03' });
    expect(jobs.map((j) => [j.package, j.state, j.attempts]).sort()).toEqual(
      ids.map((id) => [id, 'completed', 1]).sort(),
    );
    // Each package crossed once: what S03 received is the burst, and the two processes' sends add up to it.
    expect(await metric(child.url, 'outpost_despooler_bytes_total')).toBe(8 * size);
    const sentBy = [
      await metric(a.url, 'outpost_sender_bytes_total', { site: 'S03' }),
      await metric(b.url, 'outpost_sender_bytes_total', { site: 'S03' }),
    ];
    console.log(`bytes sent to S03 by C01's two processes: ${sentBy.join(' + ')}`);
    expect(sentBy[0] + sentBy[1]).toBe(8 * size);
    expect(sentBy[0]).toBeGreaterThan(0);
    expect(sentBy[1]).toBeGreaterThan(0);
  });

  it('refuses a --database that is not a postgres URL, creating nothing', async () => {
    const r = await cli(['init', '--code', 'C09', '--data', join(base, 'C09'), '--database', 'mysql://x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--database 'mysql://x' is not a postgres:// URL");
    expect(existsSync(join(base, 'C09'))).toBe(false);
  });
});
