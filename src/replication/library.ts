import { Value } from 'typebox/value';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { assertPackageId, manifestPages } from '../packages/index.js';
import { type KnownManifest, ManifestsAnswer, S2S, s2sJson } from '../s2s/index.js';

/** How far a running export or preload has come, as `content export|preload` show it. */
export interface LibraryProgress {
  id: string;
  phase: 'scanning' | 'fetching' | 'verifying' | 'writing';
  bytesTotal: number;
  bytesDone: number;
  /** A preload's verified bytes stored in the content library so far: a rerun never reads them again. */
  bytesStored: number;
  startedAt: number;
}

const running = new Map<string, LibraryProgress>();

/** Runs `work` visible as progress `id` (chosen by the caller, so it can watch while it waits). */
export async function tracked<T>(
  id: string | undefined,
  now: number,
  work: (progress: LibraryProgress) => Promise<T>,
): Promise<T> {
  const progress: LibraryProgress = {
    id: id ?? '',
    phase: 'scanning',
    bytesTotal: 0,
    bytesDone: 0,
    bytesStored: 0,
    startedAt: now,
  };
  if (id !== undefined) {
    if (running.has(id))
      throw new OutpostError('OUTPOST_IMPORT_RUNNING', `an export or preload '${id}' is already running`);
    running.set(id, progress);
  }
  try {
    return await work(progress);
  } finally {
    if (id !== undefined) running.delete(id);
  }
}

/** How far the running export or preload `id` has come. */
export function libraryProgress(id: string): LibraryProgress {
  const p = running.get(id);
  if (!p)
    throw new OutpostError('OUTPOST_NOT_FOUND', `no export or preload '${id}' is running here`, {
      hint: 'it may have finished already',
    });
  return { ...p };
}

/** The current version of each package held here (all of them, or those in `ids`), with its files. */
async function heldManifests(db: SiteContext['db'], ids: readonly string[]): Promise<KnownManifest[]> {
  let query = db.selectFrom('packages').select(['id', 'name', 'source_version', 'origin_site']);
  if (ids.length) query = query.where('id', 'in', ids);
  const out: KnownManifest[] = [];
  for (const row of await query.orderBy('id').execute()) {
    const files = [];
    for await (const page of manifestPages(db, row.id, row.source_version)) files.push(...page);
    out.push({
      id: row.id,
      name: row.name,
      sourceVersion: row.source_version,
      origin: row.origin_site,
      files,
    });
  }
  return out;
}

/**
 * The manifests of every package version the hierarchy above and at this site knows (or of `ids`):
 * this site's own, and what its parent answers, asking its own parent in turn. A version known at
 * two levels is taken at the newest; the site that holds a package's origin is always the newest.
 */
export async function knownManifests(
  ctx: Pick<SiteContext, 'config' | 'db' | 'identity'>,
  ids: readonly string[],
): Promise<KnownManifest[]> {
  for (const id of ids) assertPackageId(id);
  const known = new Map((await heldManifests(ctx.db, ids)).map((m) => [m.id, m]));
  const parent = ctx.config.parent;
  if (parent) {
    const answer = await s2sJson<unknown>(ctx.identity, parent.url, 'POST', S2S.manifests, { ids });
    if (!Value.Check(ManifestsAnswer, answer))
      throw new OutpostError('OUTPOST_UNREACHABLE', `the parent ${parent.code} answered manifests malformed`);
    for (const m of answer.packages) {
      const here = known.get(m.id);
      if (!here || here.sourceVersion < m.sourceVersion) known.set(m.id, m);
    }
  }
  return [...known.values()];
}
