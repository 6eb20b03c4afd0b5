import cliProgress from 'cli-progress';
import type { AdminClient } from '../apiclient/index.js';
import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';
import type { PackageStatus } from '../status/index.js';

const POLL_MS = 500;

/** Where one DP stands for the version waited for: Installed, Install Failed, or still on its way. */
function stateAt(rows: PackageStatus[], dp: string, version: number): PackageStatus | null {
  const row = rows.find((r) => r.dp === dp);
  return row && row.sourceVersion >= version ? row : null;
}

const settled = (s: PackageStatus | null) => s?.state === 'Installed' || s?.state === 'Install Failed';

/**
 * `--wait`: follows package `id` at `dps` until each is Installed (at `version` or later) or
 * Install Failed. On a terminal it shows a bar of the DPs done; otherwise it prints a line each
 * time a DP's state changes (on stderr with --json, so stdout stays one JSON document).
 * Resolves to true when every DP is Installed; a failure is told with its reason.
 */
export async function waitForInstalled(
  client: AdminClient,
  id: string,
  dps: string[],
  version: number,
  json: boolean,
): Promise<boolean> {
  const out = json ? process.stderr : process.stdout;
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `  ${id} {bar} {value}/{total} DPs done | {states}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(dps.length, 0, { states: '' });
  const told = new Map<string, string>();
  let states: (PackageStatus | null)[] = [];
  try {
    for (;;) {
      const rows = await client.get<PackageStatus[]>('/status/packages', { package: id });
      states = dps.map((dp) => stateAt(rows, dp, version));
      dps.forEach((dp, i) => {
        const line = `${dp}: ${states[i]?.state ?? 'Install Pending'}${states[i]?.error ? ` (${states[i]?.error})` : ''}`;
        if (!bar && told.get(dp) !== line) out.write(`${line}\n`);
        told.set(dp, line);
      });
      bar?.update(states.filter(settled).length, {
        states: dps.map((dp, i) => `${dp} ${states[i]?.state ?? 'Install Pending'}`).join(', '),
      });
      if (states.every(settled)) break;
      await sleep(POLL_MS);
    }
  } finally {
    bar?.stop();
  }
  const failed = dps.filter((_, i) => states[i]?.state === 'Install Failed');
  for (const dp of failed) {
    const error = states[dps.indexOf(dp)]?.error;
    process.stderr.write(`outpost: ${id} Install Failed at ${dp}${error ? `: ${error}` : ''}\n`);
  }
  if (!failed.length) out.write(`${id} Installed at ${dps.join(', ')}\n`);
  return failed.length === 0;
}

/** `site delete --wait`: until this site holds `code` as deleted, or no longer at all. */
export async function waitForSiteGone(client: AdminClient, code: string): Promise<void> {
  for (;;) {
    const site = await client
      .get<{ state: string }>(`/sites/${encodeURIComponent(code)}`)
      .catch((err: unknown) => {
        if (err instanceof OutpostError && err.code === 'OUTPOST_SITE_NOT_FOUND') return null;
        throw err;
      });
    if (!site || site.state === 'deleted') return;
    await sleep(POLL_MS);
  }
}
