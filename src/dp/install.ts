import { createHash } from 'node:crypto';
import type { ContentStore, ManifestFile } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { getPackageRow, manifestFiles } from '../packages/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';

/** The version of `pkg` this site's DP serves, if it is fully installed. */
export async function installedVersion(
  ctx: Pick<SiteContext, 'config' | 'db'>,
  pkg: string,
): Promise<number | null> {
  const row = await ctx.db
    .selectFrom('package_status')
    .select(['source_version', 'state'])
    .where('package_id', '=', pkg)
    .where('dp', '=', ctx.config.code)
    .executeTakeFirst();
  return row?.state === 'Installed' ? row.source_version : null;
}

/** Reads every file of a version from the chunk store and checks its whole-file SHA-256. */
async function verifyFiles(store: ContentStore, files: readonly ManifestFile[]): Promise<void> {
  for (const file of files) {
    const hash = createHash('sha256');
    let size = 0;
    for (const [sha] of file.chunks) {
      const data = await store.read(sha);
      hash.update(data);
      size += data.length;
    }
    if (size !== file.size || hash.digest('hex') !== file.sha256) {
      throw new OutpostError('OUTPOST_HASH_MISMATCH', `'${file.path}' does not match its manifest hash`);
    }
  }
}

/** The DP's verdict on one package version: its status (sent up) and a status message, together. */
async function recordOutcome(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink'>,
  pkg: string,
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
      dp: self,
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
 * Installs the newest held version of a package on this site's DP. The DP serves files straight
 * from the content library, whose chunks were each verified and synced on arrival; before the
 * package counts as Installed, every file is read back and its whole-file SHA-256 checked here.
 */
export async function installOnDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store'>,
  pkg: string,
): Promise<void> {
  const row = await getPackageRow(ctx.db, pkg);
  const version = row.source_version;
  if ((await installedVersion(ctx, pkg)) === version) return;
  const log = ctx.log('dp');
  try {
    await verifyFiles(ctx.store, await manifestFiles(ctx.db, pkg, version));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    await recordOutcome(
      ctx,
      pkg,
      version,
      'Install Failed',
      reason,
      `package ${pkg} version ${version} failed to install: ${reason}`,
    );
    log.error({ package: pkg, version, err }, 'install failed');
    return;
  }
  await recordOutcome(
    ctx,
    pkg,
    version,
    'Installed',
    null,
    `package ${pkg} version ${version} installed on DP ${ctx.config.code}, every file verified`,
  );
  log.info({ package: pkg, version }, 'installed');
}

/**
 * Removes a package from this site's DP: Removal Pending, then the status row goes; the content
 * library frees the chunks no other package needs.
 */
export async function removeFromDp(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink'>,
  pkg: string,
): Promise<void> {
  const self = ctx.config.code;
  const current = await ctx.db
    .selectFrom('package_status')
    .select('source_version')
    .where('package_id', '=', pkg)
    .where('dp', '=', self)
    .executeTakeFirst();
  const version = current?.source_version ?? 0;
  const status = (state: 'Removal Pending' | 'Removed') =>
    setPackageStatus(ctx.db, ctx.sink, {
      package: pkg,
      sourceVersion: version,
      site: self,
      dp: self,
      state,
      error: null,
      updatedAt: ctx.clock.now(),
    });
  await status('Removal Pending');
  await status('Removed');
  await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
    severity: 'info',
    component: 'dp',
    text: `package ${pkg} removed from DP ${self}`,
    package: pkg,
  });
  ctx.log('dp').info({ package: pkg }, 'removed');
}
