import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSite, waitFor } from '../../src/demo/index.js';
import type { JobView } from '../../src/jobs/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { TRANSFER_WINDOW } from '../../src/s2s/index.js';
import type { PackageStatus } from '../../src/status/index.js';
import {
  libraryIsSound,
  metric,
  type ProxiedPair,
  proxiedPair,
  sha256,
  tempDir,
  waitForPackageState,
} from './helpers.js';

const SIZE = 96 * 1024 * 1024;
/** Request headers and answers on top of the content: a few KiB per block of a window and the offer. */
const OVERHEAD = 256 * 1024;

describe('crash safety and damaged transfers', () => {
  let pair: ProxiedPair;
  const base = tempDir('e2e-crash');

  beforeAll(async () => {
    pair = await proxiedPair(base);
    await pair.central.admin.put('/addresses/S02', { retryDelay: '500ms', retries: 20 });
  });

  afterAll(async () => {
    await pair?.stop();
  });

  /**
   * Assigns a package of SIZE random bytes over a rate-limited link and, as soon as the child has
   * answered the offer (before any block can be whole at 16 MiB/s), holds every answer of the
   * child at the proxy: no block is acknowledged from then on. With `stall`, waits until the parent
   * stops sending (its window full); otherwise until half a window is on the wire. Returns the
   * package, its bytes, the proxy's count at the start, and what the parent sent after the hold.
   */
  async function holdAnswers(name: string, stall: boolean) {
    const { central, proxy } = pair;
    const source = join(base, name);
    mkdirSync(source);
    const data = randomBytes(SIZE);
    writeFileSync(join(source, 'big.bin'), data);
    const pkg = await central.admin.post<PackageView>('/packages', { name, source });
    await central.admin.put('/addresses/S02', { rateLimitKbps: 16 * 1024 });
    const wireBefore = proxy.bytesToTarget;
    await central.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitFor(
      'the offer answered',
      60_000,
      async () => {
        const jobs = await central.admin.get<JobView[]>('/jobs', { package: pkg.id });
        return jobs.some((j) => j.bytesTotal > 0);
      },
      20,
    );
    const atHold = proxy.bytesToTarget;
    proxy.holdFromTargetAfter(0);
    if (stall)
      await waitFor(
        'the parent to stop sending, its window full',
        60_000,
        async () => Date.now() - proxy.lastDataAt > 1000,
        50,
      );
    else
      await waitFor(
        'half a window on the wire',
        60_000,
        async () => proxy.bytesToTarget - atHold >= TRANSFER_WINDOW / 2,
        20,
      );
    return { pkg, data, wireBefore, unacknowledged: proxy.bytesToTarget - atHold };
  }

  /** After the kill: the package arrives whole, having re-sent at most one window, and only sound content is served. */
  async function completesWithinOneWindow(pkg: PackageView, data: Buffer, wireBefore: number) {
    const { central, child, proxy } = pair;
    await central.admin.put('/addresses/S02', { rateLimitKbps: null });
    await waitForPackageState(child, pkg.id, 'S02', 'Installed', 120_000);
    const resent = proxy.bytesToTarget - wireBefore - SIZE;
    // Everything on the wire beyond the package itself: at most the window cut short, plus requests.
    expect(resent).toBeLessThanOrEqual(TRANSFER_WINDOW + OVERHEAD);
    const res = await fetch(`${child.url}/dp/${pkg.id}/big.bin`);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(data));
    expect(await libraryIsSound(child.dataDir)).toBe(true);
    const jobs = await central.admin.get<JobView[]>('/jobs', { package: pkg.id });
    const completed = jobs.filter((j) => j.state === 'completed');
    expect(completed).toHaveLength(1);
    // The attempt cut short by the crash counted, and the next one resumed.
    expect(completed[0].attempts).toBeGreaterThanOrEqual(1);
    expect(completed[0].bytesTotal).toBeLessThan(SIZE);
  }

  it('kill -9 of the child mid-transfer: at most one window was unacknowledged, and at most one is re-sent after restart', async () => {
    const { child, proxy } = pair;
    const { pkg, data, wireBefore, unacknowledged } = await holdAnswers('child-killed', true);
    // With nothing acknowledged, the parent sent one window (less what was on the wire before the hold) and stopped.
    expect(unacknowledged).toBeGreaterThan(TRANSFER_WINDOW / 2);
    expect(unacknowledged).toBeLessThanOrEqual(TRANSFER_WINDOW + OVERHEAD);
    const jobs = await pair.central.admin.get<JobView[]>('/jobs', { package: pkg.id });
    expect(jobs[0].bytesSent).toBeLessThanOrEqual(TRANSFER_WINDOW);
    await child.process.kill();
    proxy.release();
    const notServed = await fetch(`${child.url}/dp/${pkg.id}/big.bin`).catch(() => null);
    expect(notServed).toBeNull();

    child.process = await spawnSite(child.dataDir, child.url, ['--heartbeat', '1s']);
    // Until Installed, the DP serves nothing of this package. The link is still rate-limited, so
    // most of the package (seconds of sending) is yet to come.
    const early = await fetch(`${child.url}/dp/${pkg.id}/big.bin`);
    expect(early.status).toBe(404);
    const statuses = await child.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
    expect(statuses.some((s) => s.state === 'Installed')).toBe(false);
    await completesWithinOneWindow(pkg, data, wireBefore);
  });

  it('kill -9 of the parent mid-window: the blocks cut short are sent again, at most one window in all', async () => {
    const { central, child, proxy } = pair;
    // Killed with half a window on the wire: the blocks in flight are cut short and sent again.
    const { pkg, data, wireBefore } = await holdAnswers('parent-killed', false);
    await central.process.kill();
    proxy.release();
    const early = await fetch(`${child.url}/dp/${pkg.id}/big.bin`);
    expect(early.status).toBe(404);
    central.process = await spawnSite(central.dataDir, central.url, ['--heartbeat', '1s']);
    await completesWithinOneWindow(pkg, data, wireBefore);
  });

  it('a byte damaged on the wire is detected, the chunk discarded and sent again', async () => {
    const { central, child, proxy } = pair;
    const source = join(base, 'small');
    mkdirSync(source);
    const data = randomBytes(6 * 1024 * 1024);
    writeFileSync(join(source, 'payload.bin'), data);
    const pkg = await central.admin.post<PackageView>('/packages', { name: 'Damaged', source });
    const rejectedBefore = await metric(child.url, 'outpost_despooler_chunks_rejected_total');
    proxy.corruptOnce(2 * 1024 * 1024 + 4321);
    await central.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(child, pkg.id, 'S02', 'Installed', 60_000);
    expect(await metric(child.url, 'outpost_despooler_chunks_rejected_total')).toBe(rejectedBefore + 1);
    const res = await fetch(`${child.url}/dp/${pkg.id}/payload.bin`);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    expect(await libraryIsSound(child.dataDir)).toBe(true);
    const messages = await child.admin.get<{ text: string }[]>('/status/messages', {
      component: 'despooler',
    });
    expect(messages.some((m) => m.text.includes('discarded a damaged chunk'))).toBe(true);
  });

  it("a chunk corrupted in the sending site's own library fails the job with that reason, after bounded retries", async () => {
    const { central } = pair;
    const source = join(base, 'rotten');
    mkdirSync(source);
    const data = randomBytes(100 * 1024);
    writeFileSync(join(source, 'small.bin'), data);
    const pkg = await central.admin.post<PackageView>('/packages', { name: 'Rotten', source });
    // A small file is a single chunk, stored under the file's own hash.
    const sha = pkg.files[0].sha256;
    const onDisk = join(central.dataDir, 'content', 'chunks', sha.slice(0, 2), sha);
    const bytes = readFileSync(onDisk);
    bytes[1000] ^= 0xff;
    writeFileSync(onDisk, bytes);
    await central.admin.put('/addresses/S02', { retries: 0 });
    try {
      await central.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
      const failed = await waitForPackageState(central, pkg.id, 'S02', 'Install Failed', 30_000);
      expect(failed.error).toMatch(/child kept rejecting chunks: .*in the content library is corrupt/);
    } finally {
      await central.admin.put('/addresses/S02', { retries: 20 });
    }
  });
});
