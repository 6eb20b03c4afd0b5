import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../common/index.js';
import { materialize } from '../content/index.js';
import { getPackageRow, manifestFiles } from '../packages/index.js';
import type { SiteContext } from '../server/context.js';
import { postMessage, setPackageStatus } from '../status/index.js';

/** The folder a DP serves one package version from. */
export function versionDir(ctx: SiteContext, pkg: string, version: number): string {
  return join(ctx.paths.dp, pkg, String(version));
}

/** The version of `pkg` this site's DP serves, if it is fully installed. */
export async function installedVersion(ctx: SiteContext, pkg: string): Promise<number | null> {
  const row = await ctx.db
    .selectFrom('package_status')
    .select(['source_version', 'state'])
    .where('package_id', '=', pkg)
    .where('dp', '=', ctx.config.code)
    .executeTakeFirst();
  return row?.state === 'Installed' ? row.source_version : null;
}

/** The DP's verdict on one package version: its status (sent up) and a status message, together. */
async function recordOutcome(
  ctx: SiteContext,
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
 * Installs the newest held version of a package on this site's DP: files are written from verified
 * chunks into a staging folder and renamed into place; only then is the package Installed.
 */
export async function installOnDp(ctx: SiteContext, pkg: string): Promise<void> {
  const row = await getPackageRow(ctx.db, pkg);
  const version = row.source_version;
  if ((await installedVersion(ctx, pkg)) === version) return;
  const self = ctx.config.code;
  const log = ctx.log('dp');
  const staging = join(ctx.paths.dp, '.staging', `${pkg}-${version}-${randomBytes(4).toString('hex')}`);
  try {
    await materialize(ctx.store, await manifestFiles(ctx.db, pkg, version), staging);
    const target = versionDir(ctx, pkg, version);
    await mkdir(join(ctx.paths.dp, pkg), { recursive: true });
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
    await fsyncDir(join(ctx.paths.dp, pkg));
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
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
    `package ${pkg} version ${version} installed on DP ${self}, every file verified`,
  );
  log.info({ package: pkg, version }, 'installed');
  for (const old of await readdir(join(ctx.paths.dp, pkg))) {
    if (old !== String(version)) await rm(join(ctx.paths.dp, pkg, old), { recursive: true, force: true });
  }
}

/** Removes a package from this site's DP: Removal Pending, files gone, then the status row goes. */
export async function removeFromDp(ctx: SiteContext, pkg: string): Promise<void> {
  const self = ctx.config.code;
  const current = await ctx.db
    .selectFrom('package_status')
    .select('source_version')
    .where('package_id', '=', pkg)
    .where('dp', '=', self)
    .executeTakeFirst();
  const version = current?.source_version ?? 0;
  const status = (state: 'Removal Pending' | 'Removed' | 'Removal Failed', error: string | null = null) =>
    setPackageStatus(ctx.db, ctx.sink, {
      package: pkg,
      sourceVersion: version,
      site: self,
      dp: self,
      state,
      error,
      updatedAt: ctx.clock.now(),
    });
  await status('Removal Pending');
  try {
    await rm(join(ctx.paths.dp, pkg), { recursive: true, force: true });
  } catch (err) {
    await status('Removal Failed', (err as Error).message);
    return;
  }
  await status('Removed');
  await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
    severity: 'info',
    component: 'dp',
    text: `package ${pkg} removed from DP ${self}`,
    package: pkg,
  });
  ctx.log('dp').info({ package: pkg }, 'removed');
}
