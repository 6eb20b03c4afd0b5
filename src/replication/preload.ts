import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import {
  type ChunkAt,
  indexPackageFile,
  PackageFileRefused,
  parsePackIndex,
  VerifyPool,
} from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { openRemoteDp } from '../dp/index.js';
import { OutpostError } from '../errors/index.js';
import type { KnownManifest } from '../s2s/index.js';
import { fetchFromDp } from './fromdp.js';
import { knownManifests, type LibraryProgress, tracked } from './library.js';
import {
  ChunkImporter,
  emptySummary,
  type Found,
  keepForLater,
  listVersions,
  type PreloadSet,
  type PreloadSummary,
  wantedChunks,
} from './preloading.js';

export type { PreloadSummary } from './preloading.js';

/** A chunk found in the folder: where, and which item of the folder it came from. */
type Candidate = ChunkAt & Found;

/** Files of a data directory that are not content: passed over quietly. */
const NOT_CONTENT = /^(site\.json|admin\.token|.*\.(db|db-wal|db-shm|db-journal|key|pub|log|tmp))$/;
/**
 * Folders of a data directory that hold no content. Not `db`: a content library has a shard folder
 * of that name (chunks whose hash starts with db), and the database files are passed over by name.
 */
const NOT_CONTENT_DIRS = new Set(['logs', 'keys', 'tmp']);
const SHA = /^[0-9a-f]{64}$/;

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
 * `content preload`: imports content found in a folder on this site's host (`dir`) — package files
 * (docs/PACKAGE-FILE.md), a content library or a whole data directory copied from another site — or
 * served by another site's DP (`fromDp`, its base URL), so that what the parent would send later is
 * already here. What counts is the manifests of the package versions the hierarchy knows (asked of
 * the parent): a chunk is taken only if one of them uses it, and only once its bytes hash to its
 * name, checked on every core. Chunks already in the library are never read or fetched again, so a
 * rerun after an interruption verifies only what is left. Nothing is recorded as installed: a
 * package assigned here reaches the DP through its job at the parent, whose offer then finds nothing
 * missing; one not assigned yet has its chunks kept (see preloaded_chunks) until it is.
 */
export async function preloadContent(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'identity' | 'log' | 'store'>,
  input: { dir?: string; fromDp?: string; ids?: string[]; progressId?: string },
): Promise<PreloadSummary> {
  if ((input.dir === undefined) === (input.fromDp === undefined))
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      'give either --dir DIR or --from-dp URL, not both or neither',
    );
  const ids = input.ids ?? [];
  // The source is checked before anything else: a wrong folder or URL is refused at once.
  const dp = input.fromDp === undefined ? null : await openRemoteDp(input.fromDp);
  const root = input.dir === undefined ? null : await readableFolder(input.dir);
  return tracked(input.progressId, ctx.clock.now(), async (progress) => {
    const known = new Map((await knownManifests(ctx, ids)).map((m) => [m.id, m]));
    const set: PreloadSet = { known, wanted: wantedChunks(known.values()), ids, summary: emptySummary() };
    const { summary } = set;
    for (const id of ids)
      if (!known.has(id))
        summary.skipped.push({ id, reason: 'unknown package', detail: 'no site above knows it' });
    let found: (m: KnownManifest, sha: string) => boolean;
    if (dp) {
      summary.fromDp = { url: dp.url, dp: dp.dp };
      found = await fetchFromDp(ctx, dp, set, progress);
    } else {
      summary.dir = root ?? '';
      found = await fromFolder(ctx, root ?? '', set, progress);
    }
    await listVersions(ctx, summary, known.values(), ids, found);
    ctx.log('distmgr').info(
      {
        ...(dp ? { dp: dp.dp, url: dp.url } : { dir: root }),
        imported: summary.imported.length,
        chunks: summary.chunks.imported,
        bytes: summary.chunks.bytes,
      },
      'preload finished',
    );
    return summary;
  });
}

async function readableFolder(dir: string): Promise<string> {
  const root = resolve(dir);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory())
    throw new OutpostError(
      'OUTPOST_SOURCE_UNREADABLE',
      `--dir '${dir}' is not a folder this site server can read`,
    );
  return root;
}

/**
 * Preload from a folder: every chunk a known version uses, found loose, in a pack or in a package
 * file, is a candidate; one candidate per chunk not held is verified, the next one if it proves bad.
 * Says which chunks the folder held.
 */
async function fromFolder(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'store'>,
  root: string,
  { known, wanted, ids, summary }: PreloadSet,
  progress: LibraryProgress,
): Promise<(m: KnownManifest, sha: string) => boolean> {
  const rel = (p: string) => relative(root, p) || basename(p);
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
      summary.chunks.alreadyHeldBytes += wanted.get(sha)?.size ?? 0;
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
  await keepForLater(
    ctx,
    todo.map((list) => list[0].sha),
    wanted,
  );
  progress.phase = 'verifying';
  progress.bytesTotal = todo.reduce((s, list) => s + list[0].size, 0);
  const importer = new ChunkImporter(ctx, summary, progress);
  const pool = new VerifyPool();
  try {
    const rest = new Map(todo.map((list) => [list[0].sha, list]));
    let round = todo.map((list) => list.shift() as Candidate);
    while (round.length) {
      const retry: Candidate[] = [];
      for await (const v of pool.verifyAll(round)) {
        if (await importer.take(v)) continue;
        const next = rest.get(v.chunk.sha)?.shift();
        if (next) retry.push(next);
        else progress.bytesDone += v.chunk.size;
      }
      await importer.flush();
      round = retry;
    }
  } finally {
    await pool.close();
  }
  return (_m, sha) => candidates.has(sha);
}
