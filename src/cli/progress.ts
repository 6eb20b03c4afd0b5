import { randomUUID } from 'node:crypto';
import cliProgress from 'cli-progress';
import type { AdminClient } from '../apiclient/index.js';
import type { ImportView } from '../packages/index.js';
import { formatBytes } from './output.js';

const POLL_MS = 500;

/**
 * Runs a package import (`package create|update`) and, on a terminal, shows how far the site
 * server has read the source: it names the import, and asks after it while the request runs.
 */
export async function withImportProgress<T>(
  client: AdminClient,
  quiet: boolean,
  start: (importId?: string) => Promise<T>,
): Promise<T> {
  if (quiet || !process.stderr.isTTY) return start();
  const importId = randomUUID();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '  reading source {bar} {value}/{total} files | {bytes}',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const timer = setInterval(() => {
    client.get<ImportView>(`/packages/imports/${importId}`).then(
      (p) => {
        if (!started) bar.start(p.files, 0, { bytes: formatBytes(0) });
        started = true;
        bar.setTotal(p.files);
        bar.update(p.filesDone, { bytes: formatBytes(p.bytesDone) });
      },
      () => undefined, // not started yet, or just finished
    );
  }, POLL_MS);
  try {
    return await start(importId);
  } finally {
    clearInterval(timer);
    if (started) bar.stop();
  }
}
