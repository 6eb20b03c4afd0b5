import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hierarchy, type HierarchySite, startHierarchy, waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import { sha256, tempDir, waitForPackageState } from './helpers.js';

const MiB = 1024 * 1024;
/** The child's content library: a tmpfs this small, with a filler file taking most of it. */
const LIBRARY = 32 * MiB;
const FILLER = 20 * MiB;
/** Larger than what the filler leaves free, smaller than the whole library. */
const SIZE = 16 * MiB;

/** Why this machine cannot run the test, or null: it mounts a tmpfs in a private mount namespace. */
function cannotMount(): string | null {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const probe = spawnSync('unshare', ['-m', 'true']);
  if (probe.status !== 0) return `unshare -m does not work here: ${probe.error?.message ?? probe.stderr}`;
  return null;
}
const skipReason = cannotMount();

describe.skipIf(skipReason !== null)(
  `a child whose content library fills up mid-transfer${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const base = tempDir('e2e-disk-full');
    // The child's content library, as the child sees it: a tmpfs mounted over the folder in the
    // child's own mount namespace, so the rest of its data directory (database, logs) has room.
    const chunks = join(base, 'S02', 'content', 'chunks');
    let hierarchy: Hierarchy;
    let central: HierarchySite;
    let child: HierarchySite;
    /** The same folder seen from here, through the child process's root. */
    let library: string;

    beforeAll(async () => {
      hierarchy = await startHierarchy(base, [
        { code: 'C01', type: 'central' },
        {
          code: 'S02',
          type: 'secondary',
          parent: 'C01',
          wrap: [
            'unshare',
            '-m',
            'sh',
            '-c',
            `mount -t tmpfs -o size=${LIBRARY},mode=0700 tmpfs "$0" && exec "$@"`,
            chunks,
          ],
        },
      ]);
      central = hierarchy.sites.C01;
      child = hierarchy.sites.S02;
      library = join('/proc', String(child.process.child.pid), 'root', chunks);
      // Plenty of retries allowed: a full disk must fail the job at once all the same.
      await central.admin.put('/addresses/S02', { retries: 5, retryDelay: '500ms' });
    });

    afterAll(async () => {
      await hierarchy?.stop();
    });

    /** Chunk files in the child's library (the filler is not one). */
    function chunkFiles(): string[] {
      return readdirSync(library)
        .filter((d) => /^[0-9a-f]{2}$/.test(d))
        .flatMap((d) => readdirSync(join(library, d)));
    }

    const jobsFor = (pkg: string) => central.admin.get<JobView[]>('/jobs', { package: pkg });

    it('fails Install Failed naming site, path, space needed and free; unassign frees it; redistribute after freeing space installs it', async () => {
      const fs = statfsSync(library);
      expect(fs.blocks * fs.bsize).toBe(LIBRARY);
      writeFileSync(join(library, 'filler'), randomBytes(FILLER));
      // The filler is in the child's namespace only: the folder seen from here is untouched.
      expect(existsSync(join(chunks, 'filler'))).toBe(false);

      const source = join(base, 'big');
      mkdirSync(source);
      const data = randomBytes(SIZE);
      writeFileSync(join(source, 'big.bin'), data);
      const pkg = await central.admin.post<PackageView>('/packages', { name: 'Big', source });

      await central.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
      const failed = await waitForPackageState(central, pkg.id, 'S02', 'Install Failed');
      expect(failed.error).toMatch(
        new RegExp(
          `^site S02: content library ${chunks} is full: [\\d.]+ MiB to write, [\\d.]+ [KM]iB free; ` +
            `package ${pkg.id} needs [\\d.]+ MiB more there$`,
        ),
      );
      const [job] = await jobsFor(pkg.id);
      expect(job).toMatchObject({ kind: 'package', state: 'failed', attempts: 1 });
      // The child says so in its own log, not only the parent.
      await waitFor('the disk-full error in the child’s despooler log', 10_000, async () => {
        const { lines } = await child.admin.get<{ lines: string[] }>('/logs/despooler');
        return lines.some((l) => l.includes('OUTPOST_DISK_FULL') && l.includes(chunks));
      });
      // What arrived before the disk filled is kept for a retry...
      expect(chunkFiles().length).toBeGreaterThan(0);

      // ...and goes when the package is unassigned: no status left anywhere, no chunk at the child.
      await central.admin.post(`/packages/${pkg.id}/unassign`, { dps: ['S02'] });
      await waitFor('the unassign to complete and the partial chunks to go', 30_000, async () => {
        const statuses = await central.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
        return statuses.length === 0 && chunkFiles().length === 0;
      });
      expect(await child.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id })).toEqual([]);
      expect((await jobsFor(pkg.id)).map((j) => [j.kind, j.state])).toEqual([['unassign', 'completed']]);
      const packagesAtChild = await child.admin.get<{ id: string }[]>('/packages');
      expect(packagesAtChild.map((p) => p.id)).not.toContain(pkg.id);

      // Assigned again while the disk is still full: it fails the same way, keeping what fitted.
      await central.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
      await waitForPackageState(central, pkg.id, 'S02', 'Install Failed');
      const kept = chunkFiles().length;
      expect(kept).toBeGreaterThan(0);

      // Space freed, a redistribute sends only the rest and the package is installed.
      rmSync(join(library, 'filler'));
      await central.admin.post(`/packages/${pkg.id}/redistribute`, { dps: ['S02'] });
      await waitForPackageState(central, pkg.id, 'S02', 'Installed');
      const done = (await jobsFor(pkg.id)).filter((j) => j.kind === 'package' && j.state === 'completed');
      expect(done).toHaveLength(1);
      expect(done[0].bytesTotal).toBeLessThan(SIZE);
      const res = await fetch(`${child.url}/dp/${pkg.id}/big.bin`);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(data));
    });
  },
);
