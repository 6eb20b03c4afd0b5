import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { writeFileAtomic } from '../common/index.js';
import type { SiteType } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { createDataDir, dataPaths, installLocations, recordFootprint } from '../host/index.js';
import { generateSiteKeys, type PhaseState, S2S, s2sJson } from '../s2s/index.js';
import { parseJoinToken } from './codes.js';
import { assertListen, databaseFor, type InstalledSite, writeIdentity } from './install.js';
import type { InstallPhase, JoinAnswer } from './phases.js';
import { type PreflightResult, preflightFailed, preflightFailures, runPreflight } from './preflight.js';

export interface JoinOptions {
  dataDir: string;
  parentUrl: string;
  token: string;
  listen?: string;
  /** Where host paths (the service unit) live; `/` on a real host. */
  root?: string;
  /** Also write a systemd unit for the site server. */
  service?: 'systemd';
  reserveBytes?: number;
  /** A postgres:// URL to keep the site's database in (its own schema) instead of SQLite. */
  database?: string;
  /** Called with the preflight table before anything is changed. */
  onPreflight?: (result: PreflightResult) => void;
}

function serviceUnit(code: string, dataDir: string): string {
  return [
    '[Unit]',
    `Description=Outpost site server ${code}`,
    'After=network-online.target',
    '',
    '[Service]',
    `ExecStart=${process.execPath} ${process.argv[1] ?? 'outpost'} serve --data ${dataDir}`,
    'Restart=on-failure',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * `outpost site join`: preflight (changes nothing), then data directory, keys, registration at the
 * parent and (optionally) a service unit — each reported to the parent as an install phase and
 * recorded in the footprint manifest. A join that fails before registration removes what it made.
 */
export async function joinSite(opts: JoinOptions): Promise<InstalledSite & { preflight: PreflightResult }> {
  const { code } = parseJoinToken(opts.token);
  if (opts.listen) assertListen(opts.listen);
  const generation = randomUUID();
  const database = databaseFor(opts.database, code, generation);
  const report = async (phase: InstallPhase, state: PhaseState, error?: string) => {
    await s2sJson(null, opts.parentUrl, 'POST', S2S.joinPhase, {
      token: opts.token,
      phase,
      state,
      error,
    }).catch(() => undefined);
  };

  // A bad token is bad input (exit 2) once the preflight table has shown it; anything else the
  // preflight names as a failed check.
  const tokenError: unknown = await s2sJson(null, opts.parentUrl, 'POST', S2S.joinCheck, {
    token: opts.token,
  }).then(
    () => null,
    (err: unknown) => err,
  );
  const tokenOk = tokenError === null;
  if (tokenOk) await report('preflight', 'running');
  const preflight = await runPreflight(opts);
  opts.onPreflight?.(preflight);
  if (!preflight.ok) {
    if (tokenError instanceof OutpostError && tokenError.kind !== 'unavailable') throw tokenError;
    if (tokenOk) await report('preflight', 'failed', preflightFailures(preflight));
    throw preflightFailed(preflight);
  }
  await report('preflight', 'done');
  const join = preflight.join;
  const listen = preflight.listen;
  if (!join || !listen) throw new OutpostError('OUTPOST_INTERNAL', 'preflight passed without a join check');

  const paths = dataPaths(opts.dataDir);
  const existedBefore = existsSync(paths.root);
  let registered = false;
  let phase: InstallPhase = 'data directory';
  try {
    await createDataDir(opts.dataDir);
    await recordFootprint(paths.root, code, {
      kind: 'directory',
      path: paths.root,
      detail: 'data directory',
    });
    await report('data directory', 'done');

    phase = 'keys';
    const keys = generateSiteKeys();
    await recordFootprint(paths.root, code, {
      kind: 'file',
      path: paths.privateKey,
      detail: 'site private key',
    });
    await report('keys', 'done');

    phase = 'registration';
    await recordFootprint(paths.root, code, {
      kind: 'registration',
      name: opts.parentUrl,
      detail: `registration of ${code} at ${join.parent}`,
    });
    const answer = await s2sJson<JoinAnswer>(null, opts.parentUrl, 'POST', S2S.join, {
      token: opts.token,
      publicKeyPem: keys.publicKeyPem,
      generation,
    });
    registered = true;
    await recordFootprint(paths.root, code, {
      kind: 'port',
      name: listen,
      detail: 'listen address of the site server',
    });
    if (opts.service === 'systemd') {
      const unit = installLocations(opts.root ?? '/', code).serviceUnit;
      await recordFootprint(paths.root, code, {
        kind: 'service',
        path: unit,
        detail: 'systemd unit of the site server',
      });
      await writeFileAtomic(unit, serviceUnit(code, paths.root));
    }
    if (database) {
      await recordFootprint(paths.root, code, {
        kind: 'database',
        name: `${database.url}#${database.schema}`,
        detail: `PostgreSQL schema ${database.schema}`,
      });
    }
    for (const [path, detail] of [
      [paths.config, 'site configuration'],
      [paths.adminToken, 'admin API token'],
      [paths.database, 'site database'],
      [paths.logs, 'component logs'],
    ]) {
      await recordFootprint(paths.root, code, {
        kind: path === paths.logs ? 'directory' : 'file',
        path,
        detail,
      });
    }
    // The parent is reached at the URL given here, which the preflight proved reachable from this
    // host, not at the URL the parent calls itself: from a branch it may be behind NAT or a proxy.
    const parentUrl = opts.parentUrl.replace(/\/+$/, '');
    const installed = await writeIdentity(
      opts.dataDir,
      keys,
      generation,
      {
        code,
        type: answer.site.type as SiteType,
        name: code,
        listen,
        url: answer.site.url,
        parent: { code: answer.parent.code, url: parentUrl },
        database,
      },
      { ...answer.parent, url: parentUrl },
    );
    return { ...installed, preflight };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (!registered) {
      await report(phase, 'failed', reason);
      if (!existedBefore) await rm(paths.root, { recursive: true, force: true });
    }
    throw err;
  }
}
