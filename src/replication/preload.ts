import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import {
  type ChunkAt,
  type ChunkData,
  indexPackageFile,
  PackageFileRefused,
  parsePackIndex,
  VerifyPool,
} from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { heldVersion } from '../packages/index.js';
import type { KnownManifest } from '../s2s/index.js';
import { knownManifests, tracked } from './library.js';

/** Why something found in the folder was not taken. */
export type NotTakenReason =
  | 'unknown package'
  | 'stale version'
  | 'corrupt'
  | 'unreadable'
  | 'truncated'
  | 'not a package'
  | 'refused';

/** What `content preload` did (`--json`; `imported`, `skipped` and `bytesVerified` as PRODUCT.md gives them). */
export interface PreloadSummary {
  dir: string;
  /** The packages whose current version is now whole in the content library. */
  imported: string[];
  /** The same, with the version and its size. */
  importedVersions: { id: string; sourceVersion: number; chunks: number; bytes: number }[];
  /** Package versions some of whose chunks were found, not all: the parent sends only the rest. */
  partial: { id: string; sourceVersion: number; missingChunks: number; missingBytes: number }[];
  /** Chunks taken from older versions' package files that the current versions still use. */
  staleChunks: number;
  chunks: { verified: number; imported: number; bytes: number; alreadyHeld: number };
  /** Bytes read and hashed this run. */
  bytesVerified: number;
  /** Each item not taken: the package or the file in the folder (`path`, relative to it), and why. */
  skipped: { path?: string; id?: string; reason: NotTakenReason; detail: string }[];
}

/** A chunk found in the folder: where, and which item of the folder it came from. */
interface Candidate extends ChunkAt {
  item: string;
  stale: boolean;
}

/** Files of a data directory that are not content: passed over quietly. */
const NOT_CONTENT = /^(site\.json|admin\.token|.*\.(db|db-wal|db-shm|db-journal|key|pub|log|tmp))$/;
/**
 * Folders of a data directory that hold no content. Not `db`: a content library has a shard folder
 * of that name (chunks whose hash starts with db), and the database files are passed over by name.
 */
const NOT_CONTENT_DIRS = new Set(['logs', 'keys', 'tmp']);
const SHA = /^[0-9a-f]{64}$/;
/** Verified chunks are stored (and synced) in batches of this many bytes. */
const BATCH_BYTES = 32 * 1024 * 1024;

function sameFiles(a: KnownManifest['files'], b: KnownManifest['files']): boolean {
  const key = (f: KnownManifest['files'][number]) => JSON.stringify([f.path, f.size, f.sha256, f.chunks]);
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(key));
  return b.every((f) => keys.has(key(f)));
}

/** Walks the folder without following symbolic links; every regular file, with its folder's name. */
async function walk(
  root: string,
): Promise<{ files: string[]; unreadable: { item: string; detail: string }[] }> {
  const files: string[] = [];
  const unreadable: { item: string; detail: string }[] = [];
  async function visit(dir: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      unreadable.push({ item: dir, detail: (err as Error).message });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // A site's data directory: only its content library is content.
    if (entries.some((e) => e.name === 'site.json' && e.isFile()))
      entries = entries.filter((e) => e.name === 'content' && e.isDirectory());
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (!NOT_CONTENT_DIRS.has(e.name)) await visit(full);
      } else if (e.isFile() && !NOT_CONTENT.test(e.name)) files.push(full);
    }
  }
  await visit(root);
  return { files, unreadable };
}

/**
 * `content preload`: imports content found in a folder on this site's host — package files
 * (docs/PACKAGE-FILE.md), a content library or a whole data directory copied from another site —
 * so that what the parent would send later is already here. What counts is the manifests of the
 * package versions the hierarchy knows (asked of the parent): a chunk is taken only if one of them
 * uses it, and only once its bytes hash to its name, checked on every core. Chunks already in the
 * library are never read again, so a rerun after an interruption verifies only what is left.
 * Nothing is recorded as installed: a package assigned here reaches the DP through its job at
 * the parent, whose offer then finds nothing missing; one not assigned yet has its chunks kept
 * (see preloaded_chunks) until it is.
 */
export async function preloadContent(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'identity' | 'log' | 'store'>,
  input: { dir: string; ids?: string[]; progressId?: string },
): Promise<PreloadSummary> {
  const root = resolve(input.dir);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory())
    throw new OutpostError(
      'OUTPOST_SOURCE_UNREADABLE',
      `--dir '${input.dir}' is not a folder this site server can read`,
    );
  const ids = input.ids ?? [];
  return tracked(input.progressId, ctx.clock.now(), async (progress) => {
    const known = new Map((await knownManifests(ctx, ids)).map((m) => [m.id, m]));
    const summary: PreloadSummary = {
      dir: root,
      imported: [],
      importedVersions: [],
      partial: [],
      staleChunks: 0,
      chunks: { verified: 0, imported: 0, bytes: 0, alreadyHeld: 0 },
      bytesVerified: 0,
      skipped: [],
    };
    const rel = (p: string) => relative(root, p) || basename(p);
    for (const id of ids)
      if (!known.has(id))
        summary.skipped.push({ id, reason: 'unknown package', detail: 'no site above knows it' });
    // Each chunk the known versions use, with its size and the versions that use it.
    const wanted = new Map<string, { size: number; users: KnownManifest[] }>();
    for (const m of known.values())
      for (const f of m.files)
        for (const [sha, size] of f.chunks) {
          const w = wanted.get(sha);
          if (!w) wanted.set(sha, { size, users: [m] });
          else if (!w.users.includes(m)) w.users.push(m);
        }

    const candidates = new Map<string, Candidate[]>();
    const offer = (c: Candidate) => {
      const w = wanted.get(c.sha);
      if (!w) return;
      const list = candidates.get(c.sha);
      if (list) list.push(c);
      else candidates.set(c.sha, [c]);
    };
    const { files, unreadable } = await walk(root);
    for (const u of unreadable)
      summary.skipped.push({ path: rel(u.item), reason: 'unreadable', detail: u.detail });
    for (const file of files) {
      const name = basename(file);
      const folder = basename(join(file, '..'));
      if (SHA.test(name) && folder === name.slice(0, 2)) {
        const s = await stat(file).catch(() => null);
        if (s) offer({ file, offset: 0, size: s.size, sha: name, item: rel(file), stale: false });
        continue;
      }
      if (folder === 'packs' && name.endsWith('.pack')) continue;
      if (folder === 'packs' && name.endsWith('.idx')) {
        const pack = `${file.slice(0, -4)}.pack`;
        const text = await readFile(file, 'utf8').catch(() => null);
        if (text === null) {
          summary.skipped.push({
            path: rel(file),
            reason: 'unreadable',
            detail: 'cannot read the pack index',
          });
          continue;
        }
        for (const e of parsePackIndex(text))
          offer({ file: pack, offset: e.offset, size: e.size, sha: e.sha, item: rel(pack), stale: false });
        continue;
      }
      await offerPackageFile(file, rel(file));
    }

    async function offerPackageFile(file: string, item: string): Promise<void> {
      let index: Awaited<ReturnType<typeof indexPackageFile>>;
      try {
        index = await indexPackageFile(file);
      } catch (err) {
        if (!(err instanceof PackageFileRefused)) throw err;
        summary.skipped.push({ path: item, reason: err.reason, detail: err.message });
        return;
      }
      const m = index.manifest;
      const k = known.get(m.id);
      const about = { path: item, id: m.id };
      if (ids.length && !ids.includes(m.id)) return;
      if (!k) {
        summary.skipped.push({ ...about, reason: 'unknown package', detail: `no site above knows ${m.id}` });
        return;
      }
      if (m.sourceVersion > k.sourceVersion) {
        summary.skipped.push({
          ...about,
          reason: 'unknown package',
          detail: `version ${m.sourceVersion} is newer than the version ${k.sourceVersion} the hierarchy knows`,
        });
        return;
      }
      const stale = m.sourceVersion < k.sourceVersion;
      if (!stale && !sameFiles(m.files, k.files)) {
        summary.skipped.push({
          ...about,
          reason: 'refused',
          detail: `its manifest of ${m.id} version ${m.sourceVersion} does not match the one the hierarchy holds`,
        });
        return;
      }
      if (stale)
        summary.skipped.push({
          ...about,
          reason: 'stale version',
          detail: `version ${m.sourceVersion} is older than version ${k.sourceVersion}; its chunks that version ${k.sourceVersion} still uses are kept`,
        });
      for (const c of index.chunks) offer({ file, ...c, item, stale });
    }

    // What to read: one candidate per chunk not held yet; the next candidate if it proves bad.
    const todo: Candidate[][] = [];
    for (const [sha, list] of candidates) {
      if (await ctx.store.has(sha)) {
        summary.chunks.alreadyHeld++;
        continue;
      }
      const size = wanted.get(sha)?.size;
      const fits = list.filter((c) => c.size === size);
      for (const c of list.filter((c) => c.size !== size))
        summary.skipped.push({
          path: c.item,
          reason: 'corrupt',
          detail: `chunk ${sha.slice(0, 12)} is ${c.size} bytes, not ${size}`,
        });
      if (fits.length) todo.push(fits);
    }
    await keepForLater(ctx, todo, wanted);
    progress.phase = 'verifying';
    progress.bytesTotal = todo.reduce((s, list) => s + list[0].size, 0);
    const pool = new VerifyPool();
    try {
      const rest = new Map(todo.map((list) => [list[0].sha, list]));
      let round = todo.map((list) => list.shift() as Candidate);
      while (round.length) {
        const retry: Candidate[] = [];
        let batch: ChunkData[] = [];
        let batchBytes = 0;
        const flush = async () => {
          const chunks = batch;
          batch = [];
          batchBytes = 0;
          // A transfer from the parent may have stored some meanwhile: the store would take them
          // again harmlessly (same bytes under the same hash), but a pack would hold a second copy.
          const fresh = [];
          for (const c of chunks) if (!(await ctx.store.has(c.sha))) fresh.push(c);
          if (fresh.length) await ctx.store.putMany(fresh, { verified: true });
        };
        for await (const v of pool.verifyAll(round)) {
          const c = v.chunk as Candidate;
          summary.chunks.verified++;
          summary.bytesVerified += c.size;
          if (!v.ok) {
            const reason = v.reason.startsWith('corrupt') ? 'corrupt' : 'unreadable';
            summary.skipped.push({
              path: c.item,
              reason,
              detail: `chunk ${c.sha.slice(0, 12)}: ${v.reason}`,
            });
            const next = rest.get(c.sha)?.shift();
            if (next) retry.push(next);
            else progress.bytesDone += c.size;
            continue;
          }
          progress.bytesDone += c.size;
          summary.chunks.imported++;
          summary.chunks.bytes += c.size;
          if (c.stale) summary.staleChunks++;
          batch.push({ sha: c.sha, data: v.data });
          batchBytes += c.size;
          if (batchBytes >= BATCH_BYTES) await flush();
        }
        await flush();
        round = retry;
      }
    } finally {
      await pool.close();
    }
    for (const m of known.values()) {
      if (ids.length && !ids.includes(m.id)) continue;
      let missing = 0;
      let missingBytes = 0;
      let chunks = 0;
      let bytes = 0;
      let found = false;
      const seen = new Set<string>();
      for (const f of m.files)
        for (const [sha, size] of f.chunks) {
          if (seen.has(sha)) continue;
          seen.add(sha);
          chunks++;
          bytes += size;
          if (candidates.has(sha)) found = true;
          if (!(await ctx.store.has(sha))) {
            missing++;
            missingBytes += size;
          }
        }
      if (!found) continue;
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
    ctx.log('distmgr').info(
      {
        dir: root,
        imported: summary.imported.length,
        chunks: summary.chunks.imported,
        bytes: summary.chunks.bytes,
      },
      'preload finished',
    );
    return summary;
  });
}

/**
 * Records the chunks about to be stored for versions not held here, before they are stored: garbage
 * collection lists the library before it reads what is referenced, so it can never see such a chunk
 * stored and not yet recorded.
 */
async function keepForLater(
  ctx: Pick<SiteContext, 'clock' | 'db'>,
  todo: Candidate[][],
  wanted: Map<string, { size: number; users: KnownManifest[] }>,
): Promise<void> {
  const rows = [];
  const now = ctx.clock.now();
  for (const [c] of todo) {
    const users = wanted.get(c.sha)?.users ?? [];
    let user: KnownManifest | undefined;
    for (const m of users) if ((await heldVersion(ctx.db, m.id)) !== m.sourceVersion) user = m;
    if (user)
      rows.push({ sha256: c.sha, package_id: user.id, source_version: user.sourceVersion, created_at: now });
  }
  for (let i = 0; i < rows.length; i += 500)
    await ctx.db
      .insertInto('preloaded_chunks')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
}
