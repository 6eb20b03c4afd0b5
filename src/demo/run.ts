import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { readAdminToken } from '../host/index.js';
import type { JobView } from '../jobs/index.js';
import type { DeploymentSummary } from '../mp/index.js';
import type { PackageView } from '../packages/index.js';
import type { PackageStatus } from '../status/index.js';
import { runDemoClient } from './client.js';
import { type Hierarchy, startHierarchy, THREE_LEVELS } from './hierarchy.js';
import { waitFor } from './processes.js';

type Say = (line: string) => void;

/** Writes the demo's sample package: a few small files and one larger installer. */
function writeSampleSource(dir: string): void {
  mkdirSync(join(dir, 'docs'), { recursive: true });
  writeFileSync(join(dir, 'README.txt'), 'Outpost demo package: a sample application.\n');
  writeFileSync(join(dir, 'install.cmd'), '@echo off\r\nsetup.bin /quiet\r\n');
  writeFileSync(join(dir, 'install.sh'), 'echo "Demo App installed" > installed.txt\necho installed\n');
  writeFileSync(join(dir, 'docs', 'release-notes.txt'), 'Version 1.0: first release.\n');
  writeFileSync(join(dir, 'setup.bin'), randomBytes(24 * 1024 * 1024));
}

/**
 * `outpost demo`: a real three-level hierarchy (C01 → P01 → S02) as three server processes on
 * loopback with their data directories under `dir`, one package created at C01 and distributed to
 * S02's DP, followed until C01 sees it Installed; then deployed to S02's clients and run by a client
 * agent in S02's branch, until C01 sees it succeeded. When it fails, or `signal` aborts, the servers
 * are stopped before it throws.
 */
export async function runDemo(opts: {
  once: boolean;
  dir: string;
  say: Say;
  interactive: boolean;
  signal?: AbortSignal;
}): Promise<{ hierarchy: Hierarchy; packageId: string; deployment: DeploymentSummary }> {
  const { say, signal } = opts;
  const baseDir = opts.dir;
  say(`data directories under ${baseDir}`);
  say('starting C01 (central), P01 (primary under C01) and S02 (secondary under P01)…');
  const hierarchy = await startHierarchy(baseDir, THREE_LEVELS, undefined, signal);
  const { C01, S02 } = hierarchy.sites;
  try {
    for (const s of Object.values(hierarchy.sites))
      say(`  ${s.code} serving at ${s.url} (pid ${s.process.child.pid})`);
    const source = join(baseDir, 'source');
    writeSampleSource(source);
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Demo App', source });
    say(
      `package ${pkg.id} '${pkg.name}' created at C01: ${pkg.files.length} files, ${(pkg.size / 1048576).toFixed(1)} MiB`,
    );
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    say(`assigned ${pkg.id} to S02's DP; C01 sends it to P01, which stores and forwards it to S02`);

    const bar = opts.interactive
      ? new cliProgress.SingleBar(
          { format: '  {bar} {percentage}% | {value}/{total} KiB | {stage}' },
          cliProgress.Presets.shades_classic,
        )
      : null;
    bar?.start(Math.ceil((pkg.size * 2) / 1024), 0, { stage: 'Install Pending' });
    let lastStage = '';
    const status = await waitFor(
      `${pkg.id} to be Installed at S02 as seen from C01`,
      120_000,
      async () => {
        const [up, down, rows] = await Promise.all([
          C01.admin.get<JobView[]>('/jobs', { package: pkg.id }),
          hierarchy.sites.P01.admin.get<JobView[]>('/jobs', { package: pkg.id }),
          C01.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id }),
        ]);
        const sent = [...up, ...down].reduce(
          (sum, j) => sum + (j.state === 'completed' ? j.bytesTotal : j.bytesSent),
          0,
        );
        const stage = rows.find((r) => r.dp === 'S02')?.state ?? 'Install Pending';
        const hop = down.some((j) => j.state === 'active')
          ? 'P01 → S02'
          : up.some((j) => j.state === 'active')
            ? 'C01 → P01'
            : '';
        bar?.update(Math.ceil(sent / 1024), { stage: `${stage}${hop ? ` (${hop})` : ''}` });
        if (!bar && `${stage}${hop}` !== lastStage) say(`  ${stage}${hop ? `: sending ${hop}` : ''}`);
        lastStage = `${stage}${hop}`;
        return rows.find((r) => r.dp === 'S02' && r.state === 'Installed');
      },
      250,
      signal,
    );
    bar?.update(bar.getTotal(), { stage: 'Installed' });
    bar?.stop();

    const table = await C01.admin.get<PackageStatus[]>('/status/packages');
    say('');
    say('package status at C01:');
    for (const r of table) say(`  ${r.package}  v${r.sourceVersion}  DP ${r.dp.padEnd(4)} ${r.state}`);
    say('');
    const deployment = await runDemoClient(hierarchy, pkg.id, baseDir, say, signal);
    say('');
    if (opts.once) {
      // The servers stop next: commands for them would only fail.
      say(
        `${pkg.id} is Installed on S02 (v${status.sourceVersion}). Run without --once to download it from S02's DP.`,
      );
    } else {
      say(
        `${pkg.id} is Installed on S02 (v${status.sourceVersion}). Download a file from S02's DP (resumable, Range supported):`,
      );
      say(`  curl -o setup.bin ${S02.url}/dp/${pkg.id}/setup.bin`);
      say(`  curl -r 0-99 ${S02.url}/dp/${pkg.id}/README.txt`);
      say(`Talk to C01 with the CLI: outpost status messages --data ${C01.dataDir}`);
      say(`  outpost status deployments --data ${C01.dataDir}   # what the clients reported`);
      // A temporary hierarchy: its token may be shown, so the console opens with a copy and paste.
      say(`Open the web console at ${C01.url}/ and log in with C01's admin token:`);
      say(`  ${await readAdminToken(C01.dataDir)}`);
    }
    return { hierarchy, packageId: pkg.id, deployment };
  } catch (err) {
    await hierarchy.stop();
    throw err;
  }
}
