import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, startHierarchy, THREE_LEVELS, waitFor } from '../../src/demo/index.js';
import type { PurgeSummary, SiteView } from '../../src/sites/index.js';
import { cli, tempDir } from './helpers.js';

const TABLES = [
  ['sites', 'code'],
  ['site_phases', 'site_code'],
  ['addresses', 'site_code'],
  ['assignments', 'site_code'],
  ['package_status', 'site_code'],
  ['deliveries', 'site_code'],
  ['jobs', 'site_code'],
] as const;

/** Opens a running site's SQLite database beside it (WAL allows it), as a broken tool might. */
function openDb(dataDir: string) {
  const db = new Database(join(dataDir, 'db', 'site.db'));
  db.pragma('busy_timeout = 5000');
  return db;
}

/** How many rows in each table still name `code`. */
function traces(dataDir: string, code: string): Record<string, number> {
  const db = openDb(dataDir);
  try {
    const out: Record<string, number> = {};
    for (const [table, column] of TABLES) {
      out[table] = (
        db.prepare(`select count(*) as n from ${table} where ${column} = ?`).get(code) as { n: number }
      ).n;
    }
    return out;
  } finally {
    db.close();
  }
}

const none = (t: Record<string, number>) => Object.values(t).every((n) => n === 0);

/** Whether a site has forwarded every report to its parent. */
function outboxEmpty(dataDir: string): boolean {
  const db = openDb(dataDir);
  try {
    return (db.prepare('select count(*) as n from outbox').get() as { n: number }).n === 0;
  } finally {
    db.close();
  }
}

function plantSite(dataDir: string, code: string, relation: string, parent: string, state: string): void {
  const db = openDb(dataDir);
  const now = Date.now();
  try {
    db.prepare(
      `insert into sites (code, type, relation, parent_code, name, url, state, created_at, updated_at) values (?, 'secondary', ?, ?, ?, 'http://127.0.0.1:9', ?, ?, ?)`,
    ).run(code, relation, parent, code, state, now, now);
    if (relation === 'child') {
      db.prepare(
        `insert into addresses (site_code, url, concurrency, retries, retry_delay_ms, updated_at) values (?, 'http://127.0.0.1:9', 1, 0, 1000, ?)`,
      ).run(code, now);
    }
    db.prepare(
      `insert into assignments (package_id, dp, site_code, created_at) values ('C01000AA', ?, ?, ?)`,
    ).run(code, code, now);
    db.prepare(
      `insert into package_status (package_id, dp, site_code, source_version, state, updated_at) values ('C01000AA', ?, ?, 1, 'Install Retrying', ?)`,
    ).run(code, code, now);
    db.prepare(
      `insert into site_phases (site_code, name, state, at) values (?, 'registration', 'done', ?)`,
    ).run(code, now);
  } finally {
    db.close();
  }
}

function plantJobs(dataDir: string, code: string, states: string[]): void {
  const db = openDb(dataDir);
  const now = Date.now();
  try {
    for (const [i, state] of states.entries()) {
      db.prepare(
        `insert into jobs (id, site_code, kind, package_id, source_version, dps, state, bytes_sent, bytes_total, attempts, lease_owner, lease_expires_at, next_attempt_at, created_at, updated_at)
         values (?, ?, 'package', 'C01000AA', 1, '[]', ?, 0, 0, 1, 'ghost', ?, ?, ?, ?)`,
      ).run(`planted-${code}-${i}`, code, state, now + 3_600_000, now + 3_600_000, now, now);
    }
  } finally {
    db.close();
  }
}

describe('repair tools on a deliberately inconsistent hierarchy', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-repair');
  const dir = (code: string) => h.sites[code].dataDir;

  beforeAll(async () => {
    h = await startHierarchy(base, THREE_LEVELS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('site purge at the central site removes a site deleted there but still known at its primary, everywhere, once', async () => {
    plantSite(dir('C01'), 'S09', 'descendant', 'P01', 'deleted');
    plantSite(dir('P01'), 'S09', 'child', 'P01', 'active');
    plantJobs(dir('P01'), 'S09', ['pending', 'active']);
    expect(none(traces(dir('P01'), 'S09'))).toBe(false);

    const first = await cli(['site', 'purge', 'S09', '--yes', '--json', '--data', dir('C01')]);
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout) as PurgeSummary;
    expect(summary.removed).toMatchObject({ sites: 1, assignments: 1, statuses: 1 });
    expect(summary.queuedAt).toEqual(['P01']);
    expect(none(traces(dir('C01'), 'S09'))).toBe(true);
    await waitFor('P01 to purge S09 too', 20_000, async () => none(traces(dir('P01'), 'S09')));
    // P01 may have reported S09 again (it went unreachable there) before the purge reached it; its
    // own purge, sent back up, makes C01 forget that too.
    await waitFor(
      'P01 to have sent everything up, and C01 clear of S09',
      20_000,
      async () => outboxEmpty(dir('P01')) && none(traces(dir('C01'), 'S09')),
    );

    const again = await cli(['site', 'purge', 'S09', '--json', '--data', dir('C01')]);
    const second = JSON.parse(again.stdout) as PurgeSummary;
    expect(second.removed).toEqual({
      sites: 0,
      phases: 0,
      addresses: 0,
      assignments: 0,
      statuses: 0,
      deliveries: 0,
      jobs: 0,
      messages: 0,
    });
    expect(second.queuedAt).toEqual([]);
    const atPrimary = await cli(['site', 'purge', 'S09', '--data', dir('P01')]);
    expect(atPrimary.stdout).toContain('nothing of S09 left to remove');
  });

  it('site purge at a primary of a site stuck installing also clears it at the central site', async () => {
    plantSite(dir('P01'), 'Y55', 'child', 'P01', 'installing');
    plantSite(dir('C01'), 'Y55', 'descendant', 'P01', 'installing');
    const r = await cli(['site', 'purge', 'Y55', '--yes', '--json', '--data', dir('P01')]);
    expect((JSON.parse(r.stdout) as PurgeSummary).queuedAt).toEqual(['C01']);
    await waitFor('C01 to purge Y55', 20_000, async () => none(traces(dir('C01'), 'Y55')));
    expect(none(traces(dir('P01'), 'Y55'))).toBe(true);
  });

  it('job delete removes jobs left behind for a site that no longer exists, and is safe to run twice', async () => {
    plantJobs(dir('P01'), 'Z77', ['active', 'retrying', 'failed']);
    const first = await cli(['job', 'delete', '--site', 'Z77', '--yes', '--json', '--data', dir('P01')]);
    expect(first.code, first.stderr).toBe(0);
    expect((JSON.parse(first.stdout) as { removed: string[] }).removed).toHaveLength(3);
    const second = await cli(['job', 'delete', '--site', 'Z77', '--data', dir('P01')]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('no jobs to Z77 to remove');
    expect(traces(dir('P01'), 'Z77').jobs).toBe(0);
    const one = await cli(['job', 'delete', '--site', 'z77', '--data', dir('P01')]);
    expect(one.code).toBe(2);
  });

  it('site delete and site purge off a terminal are refused without --yes; purging a code nobody knows is not found', async () => {
    const deleting = await cli(['site', 'delete', 'S02', '--data', dir('P01')]);
    expect(deleting.code).toBe(2);
    expect(deleting.stderr).toContain('pass --yes');
    expect((await h.sites.P01.admin.get<SiteView>('/sites/S02')).state).toBe('active');
    const purging = await cli(['site', 'purge', 'S02', '--data', dir('P01')]);
    expect(purging.code).toBe(2);
    expect(purging.stderr).toContain('pass --yes');
    expect((await h.sites.P01.admin.get<SiteView>('/sites/S02')).state).toBe('active');
    const dry = await cli(['site', 'purge', 'S02', '--dry-run', '--json', '--data', dir('P01')]);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, removed: { sites: 1 }, queuedAt: ['C01'] });
    expect((await h.sites.P01.admin.get<SiteView>('/sites/S02')).state).toBe('active');
    for (const yes of [[], ['--yes']]) {
      const unknown = await cli(['site', 'purge', 'ZZZ', ...yes, '--data', dir('C01')]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('site ZZZ is not known here');
    }
  });

  it('the hierarchy still works afterwards, and a site with children is only deleted with --recursive', async () => {
    await waitFor('P01 to have sent everything up', 20_000, async () => outboxEmpty(dir('P01')));
    const sites = await h.sites.C01.admin.get<SiteView[]>('/sites');
    expect(sites.map((s) => s.code).sort()).toEqual(['C01', 'P01', 'S02']);
    const refused = await cli(['site', 'delete', 'P01', '--data', dir('C01')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('site P01 has child sites: S02');
    const dry = await cli([
      'site',
      'delete',
      'P01',
      '--recursive',
      '--dry-run',
      '--json',
      '--data',
      dir('C01'),
    ]);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, sites: ['P01', 'S02'] });
    expect((await h.sites.C01.admin.get<SiteView>('/sites/P01')).state).toBe('active');

    // For real: the primary is told to deinstall, and tells its own secondary first.
    const gone = await cli(['site', 'delete', 'P01', '--recursive', '--yes', '--json', '--data', dir('C01')]);
    expect(gone.code, gone.stderr).toBe(0);
    expect(JSON.parse(gone.stdout)).toMatchObject({ sites: ['P01', 'S02'], told: 'stopped and deinstalled' });
    for (const code of ['P01', 'S02']) {
      await waitFor(
        `${code} to stop and remove its install`,
        20_000,
        async () => h.sites[code].process.child.exitCode !== null && !existsSync(dir(code)),
      );
    }
    const after = await h.sites.C01.admin.get<SiteView[]>('/sites');
    expect(
      after
        .filter((s) => s.state === 'deleted')
        .map((s) => s.code)
        .sort(),
    ).toEqual(['P01', 'S02']);
  });
});
