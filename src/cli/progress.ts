import { randomUUID } from 'node:crypto';
import cliProgress from 'cli-progress';
import type { AdminClient } from '../apiclient/index.js';
import type { ImportView } from '../packages/index.js';
import type { LibraryProgress } from '../replication/index.js';
import { formatBytes } from './output.js';

const POLL_MS = 500;

/** Where a polled bar stands: its total, its value and the fields its format names. */
type BarState = { total: number; value: number; payload: Record<string, string> } | null;

/**
 * Runs work on the site server that the caller names with a fresh id and, on a terminal, shows a
 * bar from what `poll` reads about that id while the request runs (null: nothing to show yet).
 */
async function withPolledBar<T>(
  quiet: boolean,
  format: string,
  poll: (id: string) => Promise<BarState>,
  start: (id?: string) => Promise<T>,
): Promise<T> {
  if (quiet || !process.stderr.isTTY) return start();
  const id = randomUUID();
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format, hideCursor: true, clearOnComplete: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const timer = setInterval(() => {
    poll(id).then(
      (s) => {
        if (!s) return;
        if (!started) bar.start(s.total, 0, s.payload);
        started = true;
        bar.setTotal(s.total);
        bar.update(s.value, s.payload);
      },
      () => undefined, // not started yet, or just finished
    );
  }, POLL_MS);
  try {
    return await start(id);
  } finally {
    clearInterval(timer);
    if (started) bar.stop();
  }
}

/**
 * Runs a package import (`package create|update`) and, on a terminal, shows how far the site
 * server has read the source: it names the import, and asks after it while the request runs.
 */
export function withImportProgress<T>(
  client: AdminClient,
  quiet: boolean,
  start: (importId?: string) => Promise<T>,
): Promise<T> {
  return withPolledBar(
    quiet,
    '  reading source {bar} {value}/{total} files | {bytes}',
    async (id) => {
      const p = await client.get<ImportView>(`/packages/imports/${id}`);
      return { total: p.files, value: p.filesDone, payload: { bytes: formatBytes(p.bytesDone) } };
    },
    start,
  );
}

/**
 * Runs a content export or preload and, on a terminal, shows the bytes done of the total, the rate
 * and the time left, asking the site server after the work (named by the caller) while it runs.
 */
export function withLibraryProgress<T>(
  client: AdminClient,
  quiet: boolean,
  label: string,
  start: (progressId?: string) => Promise<T>,
): Promise<T> {
  const began = Date.now();
  return withPolledBar(
    quiet,
    `  ${label} {bar} {done}/{all} | {rate}/s | ETA {eta_formatted}`,
    async (id) => {
      const p = await client.get<LibraryProgress>(`/content/progress/${id}`);
      if (p.bytesTotal === 0) return null;
      const seconds = Math.max(0.001, (Date.now() - began) / 1000);
      return {
        total: p.bytesTotal,
        value: p.bytesDone,
        payload: {
          done: formatBytes(p.bytesDone),
          all: formatBytes(p.bytesTotal),
          rate: formatBytes(Math.round(p.bytesDone / seconds)),
        },
      };
    },
    start,
  );
}
