import { createHash } from 'node:crypto';
import type { ContentStore, ManifestFile } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { getPackageRow, manifestPages } from '../packages/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';

/** The version of `pkg` DP `dp` of this site serves, if it is fully installed there. */
export async function installedVersion(
  ctx: Pick<SiteContext, 'db'>,
  pkg: string,
  dp: string,
): Promise<number | null> {
  const row = await ctx.db
    .selectFrom('package_status')
    .select(['source_version', 'state'])
    .where('package_id', '=', pkg)
    .where('dp', '=', dp)
    .executeTakeFirst();
  return row?.state === 'Installed' ? row.source_version : null;
}

/** Reads every file of a version from the chunk store and checks its whole-file SHA-256. */
async function verifyFiles(store: ContentStore, files: readonly ManifestFile[], site: string): Promise<void> {
  for (const file of files) {
    const hash = createHash('sha256');
    let size = 0;
    for (const [sha] of file.chunks) {
      const data = await store.read(sha);
      hash.update(data);
      size += data.length;
    }
    if (size !== file.size || hash.digest('hex') !== file.sha256) {
      throw new OutpostError(
        'OUTPOST_HASH_MISMATCH',
        `'${file.path}' does not match its manifest hash; content verify --repair at ${site} fetches the damaged chunks`,
      );
    }
  }
}

/** The DP's verdict on one package version: its status (sent up) and a status message, together. */
async function recordOutcome(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink'>,
  pkg: string,
  dp: string,
  version: number,
  state: 'Installed' | 'Install Failed',
  error: string | null,
  text: string,
): Promise<void> {
  const self = ctx.config.code;
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await setPackageStatus(trx, ctx.sink, {
      package: pkg,
      sourceVersion: version,
      site: self,
      dp,
      state,
      error,
      updatedAt: now,
    });
    await postMessage(trx, ctx.sink, now, {
      severity: error ? 'error' : 'info',
      component: 'dp',
      text,
      package: pkg,
    });
  });
}

/**
 * Installs the newest held version of a package on DP `dp` of this site (its default DP or a named
 * one: they share the content library, each has its own status). The DP serves files straight
 * from the content library, whose chunks were each verified and synced on arrival; before the
 * package counts as Installed, every file is read back and its whole-file SHA-256 checked here.
 */
export async function installOnDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store'>,
  pkg: string,
  dp: string,
): Promise<void> {
  const row = await getPackageRow(ctx.db, pkg);
  const version = row.source_version;
  if ((await installedVersion(ctx, pkg, dp)) === version) return;
  const log = ctx.log('dp');
  try {
    // A page of the manifest at a time: a package of 200,000 files is never held whole.
    for await (const files of manifestPages(ctx.db, pkg, version))
      await verifyFiles(ctx.store, files, ctx.config.code);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    await recordOutcome(
      ctx,
      pkg,
      dp,
      version,
      'Install Failed',
      reason,
      `package ${pkg} version ${version} failed to install: ${reason}`,
    );
    log.error({ package: pkg, dp, version, err }, 'install failed');
    return;
  }
  await recordOutcome(
    ctx,
    pkg,
    dp,
    version,
    'Installed',
    null,
    `package ${pkg} version ${version} installed on DP ${dp}, every file verified`,
  );
  log.info({ package: pkg, dp, version }, 'installed');
}

/**
 * Removes a package from DP `dp` of this site: Removal Pending, then the status row goes; the content
 * library frees the chunks no other package needs.
 */
export async function removeFromDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink'>,
  pkg: string,
  dp: string,
): Promise<void> {
  const self = ctx.config.code;
  const current = await ctx.db
    .selectFrom('package_status')
    .select('source_version')
    .where('package_id', '=', pkg)
    .where('dp', '=', dp)
    .executeTakeFirst();
  const version = current?.source_version ?? 0;
  const status = (state: 'Removal Pending' | 'Removed') =>
    setPackageStatus(ctx.db, ctx.sink, {
      package: pkg,
      sourceVersion: version,
      site: self,
      dp,
      state,
      error: null,
      updatedAt: ctx.clock.now(),
    });
  await status('Removal Pending');
  await status('Removed');
  await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
    severity: 'info',
    component: 'dp',
    text: `package ${pkg} removed from DP ${dp}`,
    package: pkg,
  });
  ctx.log('dp').info({ package: pkg, dp }, 'removed');
}
