import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, type SiteSpec, spawnSite, startHierarchy, waitFor } from '../../src/demo/index.js';
import type { DoctorCheck, DoctorResult } from '../../src/doctor/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { generateSiteKeys } from '../../src/s2s/index.js';
import { cli, tempDir, waitForPackageState } from './helpers.js';

/** A central site with two secondaries: C01 → S02, S03. */
const SPECS: SiteSpec[] = [
  { code: 'C01', type: 'central' },
  { code: 'S02', type: 'secondary', parent: 'C01' },
  { code: 'S03', type: 'secondary', parent: 'C01' },
];

const SERVE_ARGS = ['--heartbeat', '1s'];

/** Opens a running site's SQLite database beside it (WAL allows it). */
function openDb(dataDir: string) {
  const db = new Database(join(dataDir, 'db', 'site.db'));
  db.pragma('busy_timeout = 5000');
  return db;
}

/** The loose chunk files of a site's content library (chunks too large for a pack). */
function looseChunks(dataDir: string): string[] {
  const root = join(dataDir, 'content', 'chunks');
  return readdirSync(root)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) => readdirSync(join(root, d)).map((f) => join(root, d, f)));
}

async function doctor(args: string[]): Promise<{ code: number; result: DoctorResult; stderr: string }> {
  const r = await cli(['doctor', ...args, '--json']);
  if (r.code === 2) throw new Error(`doctor refused: ${r.stderr}`);
  return { code: r.code, result: JSON.parse(r.stdout) as DoctorResult, stderr: r.stderr };
}

const failing = (r: DoctorResult): DoctorCheck[] => r.checks.filter((c) => c.verdict === 'fail');

describe('doctor on a real hierarchy', () => {
  const base = tempDir('e2e-doctor');
  let h: Hierarchy;
  let pkg: PackageView;

  beforeAll(async () => {
    h = await startHierarchy(base, SPECS, SERVE_ARGS);
    const { C01 } = h.sites;
    const source = join(base, 'app');
    mkdirSync(source);
    // Large enough for loose chunks, small enough that the doctor's sample covers every chunk.
    writeFileSync(join(source, 'app.bin'), randomBytes(3 * 1024 * 1024));
    writeFileSync(join(source, 'readme.txt'), 'doctor test\n');
    pkg = await C01.admin.post<PackageView>('/packages', { name: 'App', source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02', 'S03'] });
    await waitForPackageState(C01, pkg.id, 'S02', 'Installed');
    await waitForPackageState(C01, pkg.id, 'S03', 'Installed');
    // A deployment for S02's clients: its MP hands out S02's DP, which the mp check probes.
    const deployment = await C01.admin.post<{ id: string }>('/deployments', {
      package: pkg.id,
      command: 'true',
      sites: ['S02'],
    });
    await waitFor('the deployment to reach S02', 30_000, async () =>
      (await h.sites.S02.admin.get<{ id: string }[]>('/deployments')).some((d) => d.id === deployment.id),
    );
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('passes on the healthy hierarchy, for the central site and for a secondary below it', async () => {
    const { C01 } = h.sites;
    const own = await doctor(['--data', C01.dataDir]);
    expect(own.code, JSON.stringify(failing(own.result))).toBe(0);
    expect(own.result.ok).toBe(true);
    expect(own.result.site).toBe('C01');
    expect(own.result.checks.filter((c) => c.verdict !== 'ok')).toEqual([]);
    const names = own.result.checks.map((c) => `${c.check} ${c.target}`);
    for (const expected of [
      'mp C01',
      'dp C01',
      'dp C01 content',
      'senders C01 -> S02',
      'senders C01 -> S03',
      'keys C01 -> S02',
      'keys C01 -> S03',
      'clock C01 -> S03',
      'disk C01',
      'jobs C01',
    ])
      expect(names).toContain(expected);

    const below = await doctor(['--data', C01.dataDir, '--site', 'S02', '--full']);
    expect(below.code, JSON.stringify(failing(below.result))).toBe(0);
    expect(below.result.site).toBe('S02');
    const rows = below.result.checks.map((c) => `${c.check} ${c.target} ${c.verdict}`);
    expect(rows).toContain('senders C01 -> S02 ok');
    expect(rows).toContain('keys S02 -> C01 (parent) ok');
    expect(rows).toContain('dp S02 ok');
    expect(rows).toContain('mp S02 ok');
    const policy = below.result.checks.find((c) => c.target === 'S02 policy');
    expect(policy).toMatchObject({
      verdict: 'ok',
      detail: expect.stringMatching(/^deployments: 1; .* probed: 1,/),
    });
    const content = below.result.checks.find((c) => c.target === 'S02 content');
    expect(content?.detail).toMatch(/^all \d+ chunks/);

    const human = await cli(['doctor', '--data', C01.dataDir, '--site', 'S02']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/S02: healthy/);
    // The MP check registered nothing.
    const db = openDb(h.sites.S02.dataDir);
    try {
      expect((db.prepare('select count(*) as n from clients').get() as { n: number }).n).toBe(0);
    } finally {
      db.close();
    }
  });

  it('refuses an unknown site or one outside the subtree: exit 2, one line', async () => {
    const { C01, S02 } = h.sites;
    for (const [args, message] of [
      [['--data', C01.dataDir, '--site', 'S09'], /site S09 is not C01 or a site below it/],
      [['--data', C01.dataDir, '--site', 'nope!'], /--site/],
      [['--data', S02.dataDir, '--site', 'C01'], /site C01 is not S02 or a site below it/],
      [['--data', S02.dataDir, '--site', 'S03'], /site S03 is not S02 or a site below it/],
    ] as const) {
      const r = await cli(['doctor', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('names a corrupted DP file: --full finds it, and so does the sample of a small package', async () => {
    const { C01, S02 } = h.sites;
    // A chunk of app.bin (readme.txt is one chunk of 12 bytes).
    const chunk = looseChunks(S02.dataDir).find((path) => statSync(path).size > 4096) as string;
    const original = readFileSync(chunk);
    const damaged = Buffer.from(original);
    damaged[damaged.length >> 1] ^= 0xff;
    writeFileSync(chunk, damaged);
    try {
      for (const args of [['--full'], []]) {
        const r = await doctor(['--data', C01.dataDir, '--site', 'S02', ...args]);
        expect(r.code).toBe(1);
        expect(r.result.ok).toBe(false);
        const [fault] = failing(r.result);
        expect(failing(r.result)).toHaveLength(1);
        expect(fault).toMatchObject({ check: 'dp', target: 'S02 content', verdict: 'fail' });
        expect(fault.detail).toContain(
          `chunk ${chunk.split('/').pop()?.slice(0, 12)} of ${pkg.id}/app.bin is damaged`,
        );
        expect(fault.hint).toMatch(/content verify --repair/);
      }
    } finally {
      writeFileSync(chunk, original);
    }
    expect((await doctor(['--data', C01.dataDir, '--site', 'S02', '--full'])).code).toBe(0);
  });

  it('names a key mismatch: the key the parent holds for a child is not the child’s', async () => {
    const { C01 } = h.sites;
    const db = openDb(C01.dataDir);
    const held = (
      db.prepare("select public_key from sites where code = 'S03'").get() as { public_key: string }
    ).public_key;
    db.prepare("update sites set public_key = ? where code = 'S03'").run(generateSiteKeys().publicKeyPem);
    db.close();
    try {
      const r = await doctor(['--data', C01.dataDir]);
      expect(r.code).toBe(1);
      const keys = failing(r.result).filter((c) => c.check === 'keys');
      expect(keys).toHaveLength(1);
      expect(keys[0]?.target).toBe('C01 -> S03');
      expect(keys[0]?.detail).toMatch(/S03 signs with key [0-9a-f]{12}; C01 holds key [0-9a-f]{12} for it/);
      expect(keys[0]?.hint).toMatch(/site replace S03/);
    } finally {
      const fix = openDb(C01.dataDir);
      fix.prepare("update sites set public_key = ? where code = 'S03'").run(held);
      fix.close();
    }
    expect((await doctor(['--data', C01.dataDir])).code).toBe(0);
  });

  it('names a child whose own key was replaced (a host restored with another install’s key)', async () => {
    const { C01, S03 } = h.sites;
    const keyPath = join(S03.dataDir, 'keys', 'site.key');
    const original = readFileSync(keyPath, 'utf8');
    await S03.process.stop();
    writeFileSync(keyPath, generateSiteKeys().privateKeyPem);
    S03.process = await spawnSite(S03.dataDir, S03.url, SERVE_ARGS);
    try {
      const r = await doctor(['--data', C01.dataDir, '--site', 'S03']);
      expect(r.code).toBe(1);
      const keys = failing(r.result).filter((c) => c.check === 'keys');
      expect(keys.map((c) => c.target)).toEqual(['C01 -> S03', 'S03 -> C01 (parent)']);
      expect(keys[0]?.detail).toMatch(/^S03 signs with key [0-9a-f]{12}; C01 holds key [0-9a-f]{12} for it/);
      expect(keys[1]?.detail).toMatch(/^C01 refuses S03's signature: .*signature does not verify/);
    } finally {
      await S03.process.stop();
      writeFileSync(keyPath, original);
      S03.process = await spawnSite(S03.dataDir, S03.url, SERVE_ARGS);
    }
    expect((await doctor(['--data', C01.dataDir, '--site', 'S03'])).code).toBe(0);
  });

  it('names a stuck job: retrying past the attempts its address allows', async () => {
    const { C01 } = h.sites;
    const id = 'dead0bee-0000-4000-8000-000000000001';
    const now = Date.now();
    const db = openDb(C01.dataDir);
    // A job whose address was cut to fewer retries than it has used: nothing will end it by itself.
    db.prepare(
      `insert into jobs (id, site_code, kind, package_id, source_version, subject, dps, state, bytes_sent, bytes_total, attempts, last_error, lease_owner, lease_expires_at, next_attempt_at, created_at, updated_at)
       values (?, 'S02', 'purge', null, null, 'S09', '[]', 'retrying', 0, 0, 9, 'timed out', null, null, ?, ?, ?)`,
    ).run(id, now + 24 * 3600_000, now - 3600_000, now - 3600_000);
    db.close();
    try {
      const r = await doctor(['--data', C01.dataDir]);
      expect(r.code).toBe(1);
      expect(failing(r.result)).toEqual([
        expect.objectContaining({ check: 'jobs', target: 'job dead0bee to S02', verdict: 'fail' }),
      ]);
      expect(failing(r.result)[0]?.detail).toMatch(
        /retrying since .* after 9 attempts, the most its address allows \(1 \+ 5 retries\)/,
      );
    } finally {
      const fix = openDb(C01.dataDir);
      fix.prepare('delete from jobs where id = ?').run(id);
      fix.close();
    }
  });

  it('names an unreachable child, within a bounded time', async () => {
    const { C01, S03 } = h.sites;
    await S03.process.stop();
    const started = Date.now();
    const r = await doctor(['--data', C01.dataDir]);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.code).toBe(1);
    const senders = failing(r.result).filter((c) => c.check === 'senders');
    expect(senders).toEqual([expect.objectContaining({ target: 'C01 -> S03', verdict: 'fail' })]);
    expect(senders[0]?.detail).toMatch(
      /cannot reach http:\/\/127\.0\.0\.1:\d+\/s2s\/v1\/identity: ECONNREFUSED/,
    );
    expect(senders[0]?.hint).toMatch(/S03's server running/);
    const through = await doctor(['--data', C01.dataDir, '--site', 'S03']);
    expect(through.code).toBe(1);
    expect(failing(through.result).map((c) => `${c.check} ${c.target}`)).toEqual([
      'senders C01 -> S03',
      'senders S03',
    ]);
  });
});
