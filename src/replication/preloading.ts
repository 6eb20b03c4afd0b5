import type { ChunkAt, ChunkBytes, ChunkData, Verified } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { heldVersion } from '../packages/index.js';
import type { KnownManifest } from '../s2s/index.js';
import type { LibraryProgress } from './library.js';

/** Why something found in the folder or on the DP was not taken. */
export type NotTakenReason =
  | 'unknown package'
  | 'stale version'
  | 'corrupt'
  | 'unreadable'
  | 'truncated'
  | 'not a package'
  | 'refused'
  | 'not found';

/** What `content preload` did (`--json`; `imported`, `skipped` and `bytesVerified` as PRODUCT.md gives them). */
export interface PreloadSummary {
  /** The folder scanned (`--dir`). */
  dir?: string;
  /** The DP fetched from (`--from-dp`): its base URL, and its name as it gives it. */
  fromDp?: { url: string; dp: string };
  /** The packages whose current version is now whole in the content library. */
  imported: string[];
  /** The same, with the version and its size. */
  importedVersions: { id: string; sourceVersion: number; chunks: number; bytes: number }[];
  /** Package versions some of whose chunks were found, not all: the parent sends only the rest. */
  partial: { id: string; sourceVersion: number; missingChunks: number; missingBytes: number }[];
  /** Chunks taken from older versions' package files that the current versions still use. */
  staleChunks: number;
  /**
   * Chunks hashed this run, those imported and their bytes, and those found already in the library
   * (never read or fetched again: what an interrupted run finished stays done).
   */
  chunks: {
    verified: number;
    imported: number;
    bytes: number;
    alreadyHeld: number;
    alreadyHeldBytes: number;
  };
  /** Bytes read (or fetched) and hashed this run. */
  bytesVerified: number;
  /** Each item not taken: the package, or the file (`path`: in the folder, or `ID/PATH` on the DP), and why. */
  skipped: { path?: string; id?: string; reason: NotTakenReason; detail: string }[];
}

/** Each chunk the known versions use, with its size and the versions that use it. */
export type Wanted = Map<string, { size: number; users: KnownManifest[] }>;

/**
 * What a preload works from and fills in: the versions the hierarchy knows (of `ids`, when given),
 * the chunks they use, and the summary.
 */
export interface PreloadSet {
  known: Map<string, KnownManifest>;
  wanted: Wanted;
  ids: readonly string[];
  summary: PreloadSummary;
}

export function emptySummary(): PreloadSummary {
  return {
    imported: [],
    importedVersions: [],
    partial: [],
    staleChunks: 0,
    chunks: { verified: 0, imported: 0, bytes: 0, alreadyHeld: 0, alreadyHeldBytes: 0 },
    bytesVerified: 0,
    skipped: [],
  };
}

export function wantedChunks(known: Iterable<KnownManifest>): Wanted {
  const wanted: Wanted = new Map();
  for (const m of known)
    for (const f of m.files)
      for (const [sha, size] of f.chunks) {
        const w = wanted.get(sha);
        if (!w) wanted.set(sha, { size, users: [m] });
        else if (!w.users.includes(m)) w.users.push(m);
      }
  return wanted;
}

/** Verified chunks are stored (and synced) in batches of this many bytes. */
const BATCH_BYTES = 8 * 1024 * 1024;

/** A chunk on its way to the library: where it was found (`item`), and whether from a stale version. */
export type Found = (ChunkAt | ChunkBytes) & { item: string; id?: string; stale: boolean };

/**
 * Takes verified chunks into the content library in batches, counting them in the summary and the
 * progress. What is stored is synced before `bytesStored` counts it, so a preload killed at any
 * moment keeps everything counted there.
 */
export class ChunkImporter {
  private batch: ChunkData[] = [];
  private batchBytes = 0;

  constructor(
    private readonly ctx: Pick<SiteContext, 'store'>,
    private readonly summary: PreloadSummary,
    private readonly progress: LibraryProgress,
  ) {}

  /** Counts one result; stores it (in time) when good. False when its bytes were not good. */
  async take(v: Verified<Found>): Promise<boolean> {
    const c = v.chunk;
    this.summary.chunks.verified++;
    this.summary.bytesVerified += c.size;
    if (!v.ok) {
      const reason = v.reason.startsWith('corrupt') ? 'corrupt' : 'unreadable';
      this.summary.skipped.push({
        path: c.item,
        ...(c.id ? { id: c.id } : {}),
        reason,
        detail: `chunk ${c.sha.slice(0, 12)}: ${v.reason}`,
      });
      return false;
    }
    this.progress.bytesDone += c.size;
    this.summary.chunks.imported++;
    this.summary.chunks.bytes += c.size;
    if (c.stale) this.summary.staleChunks++;
    this.batch.push({ sha: c.sha, data: v.data });
    this.batchBytes += c.size;
    if (this.batchBytes >= BATCH_BYTES) await this.flush();
    return true;
  }

  /** Stores the batch taken so far. */
  async flush(): Promise<void> {
    const chunks = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    // A transfer from the parent may have stored some meanwhile: the store would take them
    // again harmlessly (same bytes under the same hash), but a pack would hold a second copy.
    const fresh = [];
    for (const c of chunks) if (!(await this.ctx.store.has(c.sha))) fresh.push(c);
    if (fresh.length) await this.ctx.store.putMany(fresh, { verified: true });
    for (const c of chunks) this.progress.bytesStored += c.data.length;
  }
}

/**
 * Records the chunks about to be stored for versions not held here, before they are stored: garbage
 * collection lists the library before it reads what is referenced, so it can never see such a chunk
 * stored and not yet recorded.
 */
export async function keepForLater(
  ctx: Pick<SiteContext, 'clock' | 'db'>,
  shas: Iterable<string>,
  wanted: Wanted,
): Promise<void> {
  const rows = [];
  const now = ctx.clock.now();
  for (const sha of shas) {
    const users = wanted.get(sha)?.users ?? [];
    let user: KnownManifest | undefined;
    for (const m of users) if ((await heldVersion(ctx.db, m.id)) !== m.sourceVersion) user = m;
    if (user)
      rows.push({ sha256: sha, package_id: user.id, source_version: user.sourceVersion, created_at: now });
  }
  for (let i = 0; i < rows.length; i += 500)
    await ctx.db
      .insertInto('preloaded_chunks')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
}

/**
 * Lists in the summary each known version (of `ids`, when given) that `found` says this run found:
 * whole in the library now (`imported`), or only partly (`partial`, with what the parent still sends).
 */
export async function listVersions(
  ctx: Pick<SiteContext, 'store'>,
  summary: PreloadSummary,
  known: Iterable<KnownManifest>,
  ids: readonly string[],
  found: (m: KnownManifest, sha: string) => boolean,
): Promise<void> {
  for (const m of known) {
    if (ids.length && !ids.includes(m.id)) continue;
    let missing = 0;
    let missingBytes = 0;
    let chunks = 0;
    let bytes = 0;
    let seen = false;
    const counted = new Set<string>();
    for (const f of m.files)
      for (const [sha, size] of f.chunks) {
        if (counted.has(sha)) continue;
        counted.add(sha);
        chunks++;
        bytes += size;
        if (found(m, sha)) seen = true;
        if (!(await ctx.store.has(sha))) {
          missing++;
          missingBytes += size;
        }
      }
    if (!seen) continue;
    if (missing === 0) {
      summary.imported.push(m.id);
      summary.importedVersions.push({ id: m.id, sourceVersion: m.sourceVersion, chunks, bytes });
    } else
      summary.partial.push({
        id: m.id,
        sourceVersion: m.sourceVersion,
        missingChunks: missing,
        missingBytes,
      });
  }
}
