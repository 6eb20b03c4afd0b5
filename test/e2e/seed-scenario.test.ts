import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CountedLink, countedChild } from '../../bench/tools.js';
import { AdminClient } from '../../src/apiclient/index.js';
import {
  type Hierarchy,
  type HierarchySite,
  spawnSite,
  startHierarchy,
  waitFor,
} from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { PreloadSummary } from '../../src/replication/index.js';
import type { AddSiteResult, SiteView } from '../../src/sites/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import { type Chunks, cli, manifestChunks, metric, sha256, tempDir } from './helpers.js';

/**
 * The seed's story end to end ("Replace the Hardware for a Secondary Site"), with real processes:
 * S02 holds 40 packages; its data directory is copied aside; three packages change after the copy;
 * one chunk file in the copy is corrupted; the old server stops; a new host joins on a fresh data
 * directory, preloads from the copy, and is cloned from S03 (which holds 5 packages more). All
 * bytes in and out of the new S02 are counted (a proxy on each direction of the link), and only the
 * 5 extra packages, the changed chunks of the 3 updated ones and the corrupted chunk may cross it as
 * content; everything else is metadata, which must stay under 1 % of the branch's content.
 */

const PACKAGES = 45;
const AT_S02 = 40;
const UPDATED = [5, 17, 29];
const CORRUPTED = 0;
const MiB = 1024 * 1024;

const bytesOf = (chunks: Iterable<number>) => [...chunks].reduce((a, b) => a + b, 0);

/** Waits until `site` reports every package of `want` (id → version) Installed at `dp`. */
function allInstalled(site: HierarchySite, dp: string, want: Map<string, number>, timeoutMs = 240_000) {
  return waitFor(
    `${want.size} packages Installed at ${dp}, seen from ${site.code}`,
    timeoutMs,
    async () => {
      const rows = await site.admin.get<PackageStatus[]>('/status/packages', { site: dp });
      const ok = rows.filter(
        (r) => r.dp === dp && r.state === 'Installed' && want.get(r.package) === r.sourceVersion,
      );
      return ok.length === want.size;
    },
    500,
  );
}

async function run(args: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.code, `outpost ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

interface Stage {
  h: Hierarchy;
  base: string;
  C01: HierarchySite;
  S03: HierarchySite;
  old: HierarchySite;
  /** C01 ↔ S02, every byte counted both ways. */
  link: CountedLink;
  ids: string[];
  sources: string[];
  /** Where S02's data directory was copied. */
  copied: string;
  /** Each package's first version, from C01's manifests (C01 keeps only the newest). */
  first: Chunks[];
}

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  stops = [];
});

/** C01 with S03 and S02 (S02 addressed through a proxy), 45 packages: 40 at S02, all 45 at S03. */
async function stage(prefix: string): Promise<Stage> {
  const base = tempDir(prefix);
  const h = await startHierarchy(base, [
    { code: 'C01', type: 'central' },
    { code: 'S03', type: 'secondary', parent: 'C01' },
  ]);
  stops.push(() => h.stop());
  const { C01, S03 } = h.sites;
  const { link, site: old } = await countedChild(C01, 'S02', join(base, 'S02-old'));
  stops.push(() => link.close());
  stops.push(() => old.process.stop());

  // 45 packages of 1–2 MiB of random bytes (nothing to deduplicate), each a large file and a small one.
  const ids: string[] = [];
  const sources: string[] = [];
  for (let i = 0; i < PACKAGES; i++) {
    const source = join(base, 'sources', `p${i}`);
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, 'app.bin'), randomBytes(MiB + ((i * 97 * 1024) % MiB)));
    writeFileSync(join(source, 'readme.txt'), randomBytes(2000 + i));
    const pkg = await C01.admin.post<PackageView>('/packages', { name: `Seed ${i}`, source });
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: i < AT_S02 ? ['S02', 'S03'] : ['S03'] });
    ids.push(pkg.id);
    sources.push(source);
  }
  const v1 = (n: number) => new Map(ids.slice(0, n).map((id) => [id, 1]));
  await allInstalled(C01, 'S02', v1(AT_S02));
  await allInstalled(C01, 'S03', v1(PACKAGES));

  // The copy aside, taken while the old server runs (as the seed copies smspkg from a live DP).
  const copied = join(base, 'S02-copy');
  cpSync(old.dataDir, copied, { recursive: true });
  const first = ids.map((id) => manifestChunks(C01.dataDir, id, 1));
  return { h, base, C01, S03, old, link, ids, sources, copied, first };
}

/**
 * After the copy: three packages change (a 64 KiB stretch in the middle of each large file) and
 * reach both DPs; one chunk file in the copy is corrupted; the old server stops. Returns what the
 * new host must be sent, in bytes, from the manifests.
 */
async function afterTheCopy(
  s: Stage,
): Promise<{ expected: number; total: number; current: Map<string, number> }> {
  const { C01, ids } = s;
  for (const i of UPDATED) {
    const file = join(s.sources[i], 'app.bin');
    const data = readFileSync(file);
    randomBytes(64 * 1024).copy(data, Math.floor(data.length / 2));
    writeFileSync(file, data);
    const updated = await C01.admin.post<PackageView>(`/packages/${ids[i]}/update`, {});
    expect(updated.sourceVersion).toBe(2);
  }
  const current = new Map(ids.map((id, i) => [id, UPDATED.includes(i) ? 2 : 1]));
  await allInstalled(C01, 'S02', new Map([...current].slice(0, AT_S02)));
  await allInstalled(C01, 'S03', current);
  await s.old.process.stop();

  // One chunk of an unchanged package, corrupted in the copy (a loose chunk file: the large file's first).
  const victim = [...s.first[CORRUPTED]].find(([, size]) => size > 64 * 1024);
  if (!victim) throw new Error('package 0 has no loose chunk');
  const [sha, victimSize] = victim;
  const path = join(s.copied, 'content', 'chunks', sha.slice(0, 2), sha);
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(path, bytes);

  // What must cross: the 5 extra packages, the chunks of the 3 updates not in their first version,
  // and the corrupted chunk.
  let expected = victimSize;
  for (let i = AT_S02; i < PACKAGES; i++) expected += bytesOf(s.first[i].values());
  for (const i of UPDATED) {
    const before = s.first[i];
    const changed = [...manifestChunks(C01.dataDir, ids[i], 2)].filter(([c]) => !before.has(c));
    expect(changed.length, `update of package ${i} changed a few chunks`).toBeGreaterThan(0);
    expect(changed.length).toBeLessThanOrEqual(4);
    expected += bytesOf(changed.map(([, size]) => size));
  }
  let total = 0;
  for (const [id, version] of current) total += bytesOf(manifestChunks(C01.dataDir, id, version).values());
  return { expected, total, current };
}

/** The new host: joins with the CLI through the counted link, and serves behind it. */
async function newHost(s: Stage, token: string): Promise<HierarchySite> {
  const dataDir = join(s.base, 'S02-new');
  const { listen, parentAddress } = s.link;
  await run([
    'site',
    'join',
    '--data',
    dataDir,
    '--parent',
    parentAddress,
    '--token',
    token,
    '--listen',
    listen,
  ]);
  // It reaches C01 at the URL it joined through (here the proxy), not the one C01 calls itself.
  const config = JSON.parse(readFileSync(join(dataDir, 'site.json'), 'utf8')) as { parent: { url: string } };
  expect(config.parent.url).toBe(parentAddress);
  const joined = s.link.bytes().childToParent;
  const process = await spawnSite(dataDir, `http://${listen}`, ['--heartbeat', '1s']);
  stops.push(() => process.stop());
  await waitFor('the new S02 active at C01', 60_000, async () => {
    return (await s.C01.admin.get<SiteView>('/sites/S02')).state === 'active';
  });
  expect(s.link.bytes().childToParent).toBeGreaterThan(joined);
  const admin = await AdminClient.from({ data: dataDir });
  return { code: 'S02', dataDir, url: `http://${listen}`, admin, process };
}

/** Preload from the copy: everything but the corrupted chunk and what changed since is taken. */
async function preload(s: Stage, site: HierarchySite): Promise<void> {
  const summary = JSON.parse(
    await run(['content', 'preload', '--dir', s.copied, '--json', '--data', site.dataDir]),
  ) as PreloadSummary;
  const updated = UPDATED.map((i) => s.ids[i]);
  expect(summary.imported.sort()).toEqual(
    s.ids
      .slice(0, AT_S02)
      .filter((id, i) => i !== CORRUPTED && !updated.includes(id))
      .sort(),
  );
  expect(summary.partial.map((p) => p.id).sort()).toEqual([s.ids[CORRUPTED], ...updated].sort());
  expect(summary.skipped.filter((x) => x.reason === 'corrupt')).toHaveLength(1);
}

/** The end: all 45 Installed at C01, the follow-up empty, and only the expected content crossed. */
async function verdict(
  s: Stage,
  site: HierarchySite,
  want: Awaited<ReturnType<typeof afterTheCopy>>,
  label: string,
): Promise<void> {
  const { C01 } = s;
  await allInstalled(C01, 'S02', want.current);
  const followUp = JSON.parse(
    await run(['status', 'packages', '--site', 'S02', '--not-installed', '--json', '--data', C01.dataDir]),
  ) as unknown[];
  expect(followUp).toEqual([]);

  const content = await metric(site.url, 'outpost_despooler_bytes_total');
  const wire = s.link.bytes();
  const metadata = wire.total - content;
  console.log(
    `${label}: content sent ${content} B (expected ${want.expected} B of ${want.total} B held), ` +
      `wire ${wire.total} B (${wire.parentToChild} C01→S02, ${wire.childToParent} S02→C01), ` +
      `metadata ${metadata} B = ${((100 * metadata) / want.total).toFixed(3)} % of the content`,
  );
  expect(content).toBe(want.expected);
  expect(metadata).toBeGreaterThan(0);
  expect(metadata).toBeLessThan(want.total / 100);

  // The DP serves the right bytes: an updated package and the one whose chunk was corrupted.
  for (const i of [CORRUPTED, UPDATED[0]]) {
    const res = await fetch(`${site.url}/dp/${s.ids[i]}/app.bin`);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(
      sha256(readFileSync(join(s.sources[i], 'app.bin'))),
    );
  }
}

describe('the seed scenario: new hardware for S02, preloaded from a copy, cloned from S03', {
  timeout: 600_000,
}, () => {
  it('path 1: site replace', async () => {
    const s = await stage('e2e-seed-replace');
    const want = await afterTheCopy(s);
    const { C01 } = s;
    // Hold the link closed while the new host preloads: the assignments it keeps would otherwise
    // be offered to it the moment it is active, before the copy is read.
    const hour = (new Date().getHours() + 2) % 24;
    await run([
      'address',
      'set',
      '--to',
      'S02',
      '--schedule',
      `${hour}-${(hour + 1) % 24}`,
      '--data',
      C01.dataDir,
    ]);
    const replaced = JSON.parse(await run(['site', 'replace', 'S02', '--json', '--data', C01.dataDir])) as {
      joinToken: string;
    };
    s.link.reset();
    const site = await newHost(s, replaced.joinToken);
    await preload(s, site);
    await run(['address', 'set', '--to', 'S02', '--schedule', 'always', '--data', C01.dataDir]);
    await run(['dp', 'clone', '--from', 'S03', '--to', 'S02', '--json', '--data', C01.dataDir]);
    await verdict(s, site, want, 'replace');
  });

  it('path 2: site delete, purge and add again', async () => {
    const s = await stage('e2e-seed-readd');
    const want = await afterTheCopy(s);
    const { C01 } = s;
    await run(['site', 'delete', 'S02', '--yes', '--data', C01.dataDir]);
    await run(['site', 'purge', 'S02', '--yes', '--data', C01.dataDir]);
    const added = JSON.parse(
      await run([
        'site',
        'add',
        '--code',
        'S02',
        '--type',
        'secondary',
        '--url',
        s.link.childAddress,
        '--json',
        '--data',
        C01.dataDir,
      ]),
    ) as AddSiteResult;
    s.link.reset();
    const site = await newHost(s, added.joinToken);
    await preload(s, site);
    await run(['dp', 'clone', '--from', 'S03', '--to', 'S02', '--json', '--data', C01.dataDir]);
    await verdict(s, site, want, 'delete + purge + add');
  });
});
