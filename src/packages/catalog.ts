import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Kysely, type Selectable, sql } from 'kysely';
import { assertPackageId } from '../common/index.js';
import { type ImportProgress, importSource, type ManifestFile } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import type { Database, OfferedFilesTable, PackageFilesTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import type { ManifestHeader } from '../s2s/index.js';
import { postMessage, setInstallPending } from '../status/index.js';
import { formatPackageId } from './ids.js';

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

/** What `package update` answers: the package, and whether it made a new version. */
export type UpdateView = PackageView & { changed: boolean };

/** Same paths, sizes and content, whatever order the import listed them in. */
/** Whether a version holds exactly these files (read a page at a time: it may have 100,000). */
async function sameFiles(
  db: Db,
  id: string,
  version: number,
  files: readonly ManifestFile[],
): Promise<boolean> {
  const key = (f: ManifestFile) => `${f.path}\0${f.size}\0${f.sha256}`;
  const keys = new Set(files.map(key));
  if (keys.size !== files.length) return false;
  let count = 0;
  for await (const page of manifestPages(db, id, version)) {
    count += page.length;
    if (count > files.length || !page.every((f) => keys.has(key(f)))) return false;
  }
  return count === files.length;
}

/**
 * `package update`: a new source version from the source folder; assigned DPs go back to Install
 * Pending. A source that reads the same as the current version, from the same folder, makes no
 * new version (`changed: false`): nothing would be sent anywhere.
 */
export async function updatePackage(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'sink' | 'store' | 'wake'>,
  id: string,
  input: { source?: string; importId?: string },
): Promise<UpdateView> {
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
  const files = await importTracked(ctx, dir, input.importId);
  if (dir === pkg.source_path && (await sameFiles(ctx.db, id, pkg.source_version, files)))
    return { ...(await showPackage(ctx.db, id)), changed: false };
  await insertVersion(ctx, id, pkg.source_version + 1, source, files);
  return { ...(await showPackage(ctx.db, id)), changed: true };
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
      await setInstallPending(
        trx,
        ctx.sink,
        { package: id, sourceVersion: version, site: a.site_code, dp: a.dp },
        now,
      );
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

function toManifestFile(r: Selectable<PackageFilesTable>): ManifestFile {
  return {
    path: r.path,
    size: r.size,
    sha256: r.sha256,
    chunks: JSON.parse(r.chunks) as [string, number][],
  };
}

/**
 * The files of one package version in path order, a page at a time: a package of 200,000 files is
 * offered or checked without holding it whole.
 */
export async function* manifestPages(
  db: Db,
  id: string,
  version: number,
  pageSize = 1000,
): AsyncGenerator<ManifestFile[]> {
  let after: string | null = null;
  for (;;) {
    let query = db
      .selectFrom('package_files')
      .selectAll()
      .where('package_id', '=', id)
      .where('source_version', '=', version);
    if (after !== null) query = query.where('path', '>', after);
    const rows = await query.orderBy('path').limit(pageSize).execute();
    if (rows.length) yield rows.map(toManifestFile);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1].path;
  }
}

/** The current version of a package, as it is offered to a child, with how many files it has. */
export async function manifestHeader(db: Db, id: string): Promise<ManifestHeader> {
  const pkg = await getPackageRow(db, id);
  const { files } = await db
    .selectFrom('package_files')
    .select((eb) => eb.fn.countAll<number>().as('files'))
    .where('package_id', '=', id)
    .where('source_version', '=', pkg.source_version)
    .executeTakeFirstOrThrow();
  return {
    id,
    name: pkg.name,
    sourceVersion: pkg.source_version,
    origin: pkg.origin_site,
    files: Number(files),
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

/** File lines staged per insert (7 values each: well under either database's bound on parameters). */
const STAGE_BATCH = 2000;
/** Staged lines this old belong to an offer a crash cut off: nothing will commit or drop them. */
const STALE_OFFER_MS = 24 * 60 * 60_000;

/** The version of package `id` held here, or null when none is. */
export async function heldVersion(db: Db, id: string): Promise<number | null> {
  const row = await db
    .selectFrom('packages')
    .select('source_version')
    .where('id', '=', id)
    .executeTakeFirst();
  return row?.source_version ?? null;
}

/**
 * A manifest offered by the parent, stored as its lines arrive: they are staged apart from the
 * package's own rows, and take effect all at once in {@link commit}, only once the whole offer is
 * known sound. A path given twice is refused as it arrives (the staging key catches it, so no set of
 * paths is held). Whatever happens, {@link drop} leaves nothing staged.
 */
export class OfferStaging {
  private readonly offer = randomUUID();
  private batch: Selectable<OfferedFilesTable>[] = [];

  constructor(
    private readonly db: Db,
    private readonly now: number,
  ) {}

  /** Drops lines staged by offers that a crash cut off long ago. */
  async sweep(): Promise<void> {
    await this.db
      .deleteFrom('offered_files')
      .where('created_at', '<', this.now - STALE_OFFER_MS)
      .execute();
  }

  /** Stages file line number `line`. */
  async add(file: ManifestFile, line: number): Promise<void> {
    this.batch.push({
      offer: this.offer,
      path: file.path,
      line,
      size: file.size,
      sha256: file.sha256,
      chunks: JSON.stringify(file.chunks),
      created_at: this.now,
    });
    if (this.batch.length >= STAGE_BATCH) await this.flush();
  }

  private async flush(): Promise<void> {
    const rows = this.batch;
    this.batch = [];
    if (!rows.length) return;
    const result = await this.db
      .insertInto('offered_files')
      .values(rows)
      .onConflict((oc) => oc.columns(['offer', 'path']).doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? rows.length) === rows.length) return;
    // A path given twice in this batch, or given in an earlier one.
    const seen = new Set<string>();
    let twice = rows.find((r) => {
      if (seen.has(r.path)) return true;
      seen.add(r.path);
      return false;
    })?.path;
    twice ??= (
      await this.db
        .selectFrom('offered_files')
        .select('path')
        .where('offer', '=', this.offer)
        .where('line', '<', rows[0].line)
        .where(
          'path',
          'in',
          rows.map((r) => r.path),
        )
        .executeTakeFirst()
    )?.path;
    throw new OutpostError('OUTPOST_BAD_PATH', `'${twice}' appears twice in the manifest`);
  }

  /**
   * Makes the staged manifest of `m` the package's, in one transaction, unless this version is
   * already held. Older versions' file lists are dropped: a site keeps the newest version it was sent.
   */
  async commit(m: ManifestHeader): Promise<void> {
    await this.flush();
    await this.db.transaction().execute(async (trx) => {
      const held = await heldVersion(trx, m.id);
      if (held !== null && held > m.sourceVersion) throw olderThanHeld(m, held);
      if (held === m.sourceVersion) return;
      const { staged } = await trx
        .selectFrom('offered_files')
        .select((eb) => eb.fn.countAll<number>().as('staged'))
        .where('offer', '=', this.offer)
        .executeTakeFirstOrThrow();
      if (Number(staged) !== m.files)
        throw new OutpostError(
          'OUTPOST_BAD_INPUT',
          `offer of package ${m.id} staged ${staged} files, not the ${m.files} it announced`,
        );
      const row = {
        name: m.name,
        source_version: m.sourceVersion,
        origin_site: m.origin,
        source_path: null,
        updated_at: this.now,
      };
      await trx
        .insertInto('packages')
        .values({ id: m.id, created_at: this.now, complete_version: null, ...row })
        .onConflict((oc) => oc.column('id').doUpdateSet(row))
        .execute();
      // Each file keeps the chunks its path had in the version held until now: the basis its
      // changed chunks can be sent as deltas against. Then the older versions' rows go.
      await trx
        .insertInto('package_files')
        .columns(['package_id', 'source_version', 'path', 'size', 'sha256', 'chunks', 'basis_chunks'])
        .expression((eb) =>
          eb
            .selectFrom('offered_files')
            .select((offered) => [
              sql<string>`cast(${m.id} as text)`.as('package_id'),
              sql<number>`cast(${m.sourceVersion} as bigint)`.as('source_version'),
              'path',
              'size',
              'sha256',
              'chunks',
              offered
                .selectFrom('package_files as held')
                .select('held.chunks')
                .where('held.package_id', '=', m.id)
                .where('held.source_version', '=', held ?? 0)
                .whereRef('held.path', '=', 'offered_files.path')
                .as('basis_chunks'),
            ])
            .where('offer', '=', this.offer),
        )
        .execute();
      await trx
        .deleteFrom('package_files')
        .where('package_id', '=', m.id)
        .where('source_version', '!=', m.sourceVersion)
        .execute();
      await trx.deleteFrom('offered_files').where('offer', '=', this.offer).execute();
    });
  }

  /** Drops whatever this offer staged (nothing, once it committed). */
  async drop(): Promise<void> {
    this.batch = [];
    await this.db.deleteFrom('offered_files').where('offer', '=', this.offer).execute();
  }
}

/** The refusal of an offer of a version older than the one held. */
export function olderThanHeld(m: Pick<ManifestHeader, 'id' | 'sourceVersion'>, held: number): OutpostError {
  return new OutpostError(
    'OUTPOST_BAD_INPUT',
    `package ${m.id} version ${m.sourceVersion} is older than the version ${held} held here`,
  );
}
