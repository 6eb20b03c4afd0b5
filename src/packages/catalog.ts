import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { type ImportProgress, importSource, type ManifestFile } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import type { Database } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import type { PackageManifest } from '../s2s/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';
import { assertPackageId, formatPackageId } from './ids.js';

type Db = Kysely<Database>;

/** A package version as scripts see it (`package create|update|show --json`). */
export interface PackageView {
  id: string;
  name: string;
  sourceVersion: number;
  origin: string;
  files: { path: string; size: number; sha256: string }[];
  size: number;
  createdAt: number;
  updatedAt: number;
}

async function assertSourceDir(source: string): Promise<string> {
  const dir = resolve(source);
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory())
    throw new OutpostError(
      'OUTPOST_SOURCE_UNREADABLE',
      `source '${source}' is not a folder this site server can read`,
    );
  return dir;
}

/** An import as `package create|update` callers watch it (`GET /packages/imports/:id`). */
export interface ImportView extends ImportProgress {
  id: string;
  source: string;
  startedAt: number;
}

/** Imports running now, by the id their caller chose (or a random one). */
const imports = new Map<string, ImportView>();

/**
 * Whether a package is being read into the content library right now: its chunks are stored before
 * its manifest, so garbage collection must wait.
 */
export function importsInProgress(): boolean {
  return imports.size > 0;
}

/** How far the running import `id` has come. */
export function importProgress(id: string): ImportView {
  const view = imports.get(id);
  if (!view)
    throw new OutpostError('OUTPOST_NOT_FOUND', `no import '${id}' is running here`, {
      hint: 'it may have finished already',
    });
  return { ...view };
}

/** Reads a source folder into the content library, visible as import `importId` while it runs. */
async function importTracked(
  ctx: Pick<SiteContext, 'clock' | 'store'>,
  source: string,
  importId: string = randomUUID(),
): Promise<ManifestFile[]> {
  if (imports.has(importId))
    throw new OutpostError('OUTPOST_IMPORT_RUNNING', `an import '${importId}' is already running`);
  const view: ImportView = {
    id: importId,
    source,
    startedAt: ctx.clock.now(),
    files: 0,
    filesDone: 0,
    bytesDone: 0,
  };
  imports.set(importId, view);
  try {
    return await importSource(source, ctx.store, (p) => Object.assign(view, p));
  } finally {
    imports.delete(importId);
  }
}

/** `package create`: reads the source folder into the content library as version 1 of a new package. */
export async function createPackage(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store'>,
  input: { name: string; source: string; importId?: string },
): Promise<PackageView> {
  const name = input.name.trim();
  if (!name || name.length > 200)
    throw new OutpostError('OUTPOST_BAD_INPUT', 'package name must be 1 to 200 characters');
  // The manifest is only an argument, so it can be freed before the package is shown.
  const dir = await assertSourceDir(input.source);
  const id = await insertPackage(ctx, name, input.source, await importTracked(ctx, dir, input.importId));
  return showPackage(ctx.db, id);
}

/** `package update`: a new source version from the source folder; assigned DPs go back to Install Pending. */
export async function updatePackage(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'store' | 'wake'>,
  id: string,
  input: { source?: string; importId?: string },
): Promise<PackageView> {
  const pkg = await getPackageRow(ctx.db, assertPackageId(id));
  if (pkg.origin_site !== ctx.config.code) {
    throw new OutpostError('OUTPOST_NOT_ORIGIN', `package ${id} is managed at ${pkg.origin_site}`, {
      hint: `update it at ${pkg.origin_site}`,
    });
  }
  const source = input.source ?? pkg.source_path;
  if (!source)
    throw new OutpostError('OUTPOST_BAD_INPUT', `package ${id} has no source folder; give --source`);
  const dir = await assertSourceDir(source);
  const version = pkg.source_version + 1;
  await insertVersion(ctx, id, version, source, await importTracked(ctx, dir, input.importId));
  return showPackage(ctx.db, id);
}

async function nextPackageId(db: Db, site: string): Promise<string> {
  const row = await db.selectFrom('kv').select('value').where('key', '=', 'packages.next').executeTakeFirst();
  const n = row ? Number(row.value) : 1;
  await db
    .insertInto('kv')
    .values({ key: 'packages.next', value: String(n + 1) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(n + 1) }))
    .execute();
  return formatPackageId(site, n);
}

async function insertFiles(
  db: Db,
  id: string,
  version: number,
  files: readonly ManifestFile[],
): Promise<void> {
  for (let i = 0; i < files.length; i += 200) {
    await db
      .insertInto('package_files')
      .values(
        files.slice(i, i + 200).map((f) => ({
          package_id: id,
          source_version: version,
          path: f.path,
          size: f.size,
          sha256: f.sha256,
          chunks: JSON.stringify(f.chunks),
        })),
      )
      .execute();
  }
}

async function insertPackage(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink'>,
  name: string,
  source: string,
  files: readonly ManifestFile[],
): Promise<string> {
  const now = ctx.clock.now();
  const id = await ctx.db.transaction().execute(async (trx) => {
    const newId = await nextPackageId(trx, ctx.config.code);
    await trx
      .insertInto('packages')
      .values({
        id: newId,
        name,
        source_version: 1,
        origin_site: ctx.config.code,
        source_path: resolve(source),
        complete_version: 1,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await insertFiles(trx, newId, 1, files);
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'distmgr',
      text: `package ${newId} '${name}' created: ${files.length} files`,
      package: newId,
    });
    return newId;
  });
  ctx.log('distmgr').info({ package: id, files: files.length }, 'package created');
  return id;
}

async function insertVersion(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'sink' | 'wake'>,
  id: string,
  version: number,
  source: string,
  files: readonly ManifestFile[],
): Promise<void> {
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('packages')
      .set({
        source_version: version,
        complete_version: version,
        source_path: resolve(source),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    await insertFiles(trx, id, version, files);
    await trx
      .deleteFrom('package_files')
      .where('package_id', '=', id)
      .where('source_version', '<', version)
      .execute();
    const assigned = await trx.selectFrom('assignments').selectAll().where('package_id', '=', id).execute();
    for (const a of assigned) {
      await setPackageStatus(trx, ctx.sink, {
        package: id,
        sourceVersion: version,
        site: a.site_code,
        dp: a.dp,
        state: 'Install Pending',
        error: null,
        updatedAt: now,
      });
    }
    await postMessage(trx, ctx.sink, now, {
      severity: 'info',
      component: 'distmgr',
      text: `package ${id} updated to source version ${version}`,
      package: id,
    });
  });
  ctx.wake.notify('distmgr');
}

export async function getPackageRow(db: Db, id: string) {
  const row = await db
    .selectFrom('packages')
    .selectAll()
    .where('id', '=', assertPackageId(id))
    .executeTakeFirst();
  if (!row) throw new OutpostError('OUTPOST_PACKAGE_NOT_FOUND', `package ${id} is not known here`);
  return row;
}

/** The files of one package version, with their chunks. */
export async function manifestFiles(db: Db, id: string, version: number): Promise<ManifestFile[]> {
  const rows = await db
    .selectFrom('package_files')
    .selectAll()
    .where('package_id', '=', id)
    .where('source_version', '=', version)
    .orderBy('path')
    .execute();
  return rows.map((r) => ({
    path: r.path,
    size: r.size,
    sha256: r.sha256,
    chunks: JSON.parse(r.chunks) as [string, number][],
  }));
}

export async function packageManifest(db: Db, id: string): Promise<PackageManifest> {
  const pkg = await getPackageRow(db, id);
  return {
    id,
    name: pkg.name,
    sourceVersion: pkg.source_version,
    origin: pkg.origin_site,
    files: await manifestFiles(db, id, pkg.source_version),
  };
}

export async function showPackage(db: Db, id: string): Promise<PackageView> {
  const pkg = await getPackageRow(db, id);
  // Without the chunk lists: a package of 100,000 files is shown without parsing 100,000 of them.
  const files = await db
    .selectFrom('package_files')
    .select(['path', 'size', 'sha256'])
    .where('package_id', '=', id)
    .where('source_version', '=', pkg.source_version)
    .orderBy('path')
    .execute();
  return {
    id,
    name: pkg.name,
    sourceVersion: pkg.source_version,
    origin: pkg.origin_site,
    files,
    size: files.reduce((sum, f) => sum + f.size, 0),
    createdAt: pkg.created_at,
    updatedAt: pkg.updated_at,
  };
}

export async function listPackages(db: Db): Promise<Omit<PackageView, 'files'>[]> {
  const rows = await db
    .selectFrom('packages')
    .leftJoin('package_files', (j) =>
      j
        .onRef('package_files.package_id', '=', 'packages.id')
        .onRef('package_files.source_version', '=', 'packages.source_version'),
    )
    .select((eb) => [
      'packages.id',
      'packages.name',
      'packages.source_version',
      'packages.origin_site',
      'packages.created_at',
      'packages.updated_at',
      eb.fn.coalesce(eb.fn.sum<number>('package_files.size'), eb.lit(0)).as('size'),
    ])
    .groupBy([
      'packages.id',
      'packages.name',
      'packages.source_version',
      'packages.origin_site',
      'packages.created_at',
      'packages.updated_at',
    ])
    .orderBy('packages.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    sourceVersion: r.source_version,
    origin: r.origin_site,
    size: Number(r.size),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }));
}

/**
 * Stores a manifest offered by the parent, unless this version is already held. Older versions'
 * file lists are dropped: a site keeps the newest version it was sent.
 */
export async function storeOfferedManifest(db: Db, m: PackageManifest, now: number): Promise<void> {
  assertPackageId(m.id);
  await db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('packages')
      .select('source_version')
      .where('id', '=', m.id)
      .executeTakeFirst();
    if (existing && existing.source_version > m.sourceVersion) {
      throw new OutpostError(
        'OUTPOST_BAD_INPUT',
        `package ${m.id} version ${m.sourceVersion} is older than the version ${existing.source_version} held here`,
      );
    }
    if (existing && existing.source_version === m.sourceVersion) return;
    const row = {
      name: m.name,
      source_version: m.sourceVersion,
      origin_site: m.origin,
      source_path: null,
      updated_at: now,
    };
    await trx
      .insertInto('packages')
      .values({ id: m.id, created_at: now, complete_version: null, ...row })
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
    await trx.deleteFrom('package_files').where('package_id', '=', m.id).execute();
    await insertFiles(trx, m.id, m.sourceVersion, m.files);
  });
}
