import { createHash } from 'node:crypto';
import { formatBytes, limitConcurrency } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { assertPackageId, getPackageRow, manifestPages } from '../packages/index.js';
import { planBlocks, s2sFetchChunks, TRANSFER_BLOCK } from '../s2s/index.js';
import { nextHop } from '../sites/index.js';
import { postMessage } from '../status/index.js';

/** How many chunks are read and hashed at once: enough to keep a disk busy, few enough to bound memory. */
const HASHING = 4;

type Verdict = 'sound' | 'missing' | 'damaged';

/** A chunk `content verify` found wrong: of a package (the first file that uses it), or of none. */
export interface ChunkProblem {
  package: string | null;
  version: number | null;
  file: string | null;
  sha: string;
  size: number;
  problem: 'missing' | 'damaged';
}

/** What `--repair` did about one problem. */
export interface RepairedChunk extends ChunkProblem {
  repaired: boolean;
  /** How it was repaired, or why it was not. */
  detail: string;
}

export interface PackageCheck {
  package: string;
  version: number;
  files: number;
  chunks: number;
  bytes: number;
  missing: number;
  damaged: number;
}

/** The `content verify --json` shape. */
export interface VerifyResult {
  site: string;
  packages: PackageCheck[];
  /** Packages not verified, with why (a version still arriving holds no complete copy to check). */
  skipped: { package: string; reason: string }[];
  /** Distinct chunks read and hashed, and their bytes. */
  chunks: number;
  bytes: number;
  /** Chunks in the library no package version refers to (checked too, without --package). */
  unreferenced: number;
  problems: ChunkProblem[];
  /** With --repair: what was fetched from the parent, per problem. */
  repair: { from: string | null; bytes: number; items: RepairedChunk[] } | null;
  /** Nothing is wrong now: no problem found, or every one repaired. */
  clean: boolean;
}

type Ctx = Pick<SiteContext, 'clock' | 'config' | 'db' | 'identity' | 'log' | 'sink' | 'store'>;

/** Reads and hashes chunks, each once however many packages share it. */
class ChunkChecker {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly slots = limitConcurrency(HASHING);
  chunks = 0;
  bytes = 0;

  constructor(private readonly store: SiteContext['store']) {}

  has(sha: string): boolean {
    return this.verdicts.has(sha);
  }

  async check(sha: string): Promise<Verdict> {
    const known = this.verdicts.get(sha);
    if (known) return known;
    const verdict = await this.slots(async (): Promise<Verdict> => {
      try {
        const data = await this.store.read(sha);
        this.chunks++;
        this.bytes += data.length;
        return createHash('sha256').update(data).digest('hex') === sha ? 'sound' : 'damaged';
      } catch (err) {
        if (err instanceof OutpostError && err.code === 'OUTPOST_CONTENT_MISSING') return 'missing';
        throw err;
      }
    });
    this.verdicts.set(sha, verdict);
    return verdict;
  }
}

/** Checks every chunk of one complete package version, a manifest page at a time. */
async function checkPackage(
  ctx: Ctx,
  checker: ChunkChecker,
  id: string,
  version: number,
  problems: ChunkProblem[],
): Promise<PackageCheck> {
  const result: PackageCheck = {
    package: id,
    version,
    files: 0,
    chunks: 0,
    bytes: 0,
    missing: 0,
    damaged: 0,
  };
  const reported = new Set<string>();
  for await (const page of manifestPages(ctx.db, id, version)) {
    const checks: Promise<void>[] = [];
    for (const file of page) {
      result.files++;
      result.bytes += file.size;
      for (const [sha, size] of file.chunks) {
        result.chunks++;
        checks.push(
          checker.check(sha).then((verdict) => {
            if (verdict === 'sound' || reported.has(sha)) return;
            reported.add(sha);
            result[verdict]++;
            problems.push({ package: id, version, file: file.path, sha, size, problem: verdict });
          }),
        );
      }
    }
    await Promise.all(checks);
  }
  return result;
}

/**
 * `--repair`: a damaged chunk is dropped first (a pack would otherwise keep answering with it), then
 * every damaged or missing chunk of a package is asked of the parent — those chunks only — and
 * stored once its hash checks. A chunk no package needs is only dropped.
 */
async function repair(ctx: Ctx, problems: ChunkProblem[]): Promise<NonNullable<VerifyResult['repair']>> {
  const parent = ctx.config.parent;
  const items: RepairedChunk[] = [];
  let bytes = 0;
  const unneeded = problems.filter((p) => p.package === null);
  await ctx.store.delete(unneeded.map((p) => p.sha));
  for (const p of unneeded) items.push({ ...p, repaired: true, detail: 'no package needs it: removed' });
  const needed = problems.filter((p) => p.package !== null);
  if (!parent) {
    const detail = `${ctx.config.code} has no parent to fetch from: update the package from its source`;
    for (const p of needed) items.push({ ...p, repaired: false, detail });
    return { from: null, bytes, items };
  }
  await ctx.store.delete(needed.filter((p) => p.problem === 'damaged').map((p) => p.sha));
  const byPackage = new Map<string, ChunkProblem[]>();
  for (const p of needed) {
    const pkg = p.package ?? '';
    byPackage.set(pkg, [...(byPackage.get(pkg) ?? []), p]);
  }
  for (const [pkg, wanted] of byPackage) {
    let fetched = 0;
    for (const batch of planBlocks(wanted)) {
      let given: { sha: string; data: Buffer }[] = [];
      let failure: string | null = null;
      try {
        given = await s2sFetchChunks(ctx.identity, parent.url, {
          package: pkg,
          chunks: batch.map((c) => c.sha),
        });
      } catch (err) {
        failure = `could not fetch it from ${parent.code}: ${(err as Error).message}`;
      }
      const { rejected } = given.length ? await ctx.store.putMany(given) : { rejected: [] };
      for (const c of batch) {
        const size = given.find((g) => g.sha === c.sha)?.data.length;
        const bad = rejected.find((r) => r.sha === c.sha);
        const ok = size !== undefined && !bad;
        if (ok) {
          bytes += size;
          fetched++;
        }
        const detail = ok
          ? `fetched ${formatBytes(size)} from ${parent.code}`
          : (failure ?? bad?.reason ?? `${parent.code} could not give it (not sound there either)`);
        items.push({ ...c, repaired: ok, detail });
      }
    }
    await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
      severity: fetched === wanted.length ? 'info' : 'warning',
      component: 'dp',
      text: `content verify repaired ${fetched} of ${wanted.length} damaged or missing chunks of package ${pkg} from ${parent.code}`,
      package: pkg,
    });
  }
  return { from: parent.code, bytes, items };
}

/**
 * `content verify`: reads back and hashes every chunk of every package version held complete here
 * (the content library and what the DP serves from it), and, without a package named, every other
 * chunk in the library. Streams a manifest page at a time and hashes a few chunks at once, so memory
 * stays bounded. With `repair`, fetches from the parent exactly the chunks found damaged or missing.
 */
export async function verifyContent(
  ctx: Ctx,
  input: { package?: string; repair?: boolean },
): Promise<VerifyResult> {
  const rows = input.package
    ? [await getPackageRow(ctx.db, assertPackageId(input.package))]
    : await ctx.db.selectFrom('packages').selectAll().orderBy('id').execute();
  const checker = new ChunkChecker(ctx.store);
  const problems: ChunkProblem[] = [];
  const packages: PackageCheck[] = [];
  const skipped: VerifyResult['skipped'] = [];
  for (const row of rows) {
    if (row.complete_version === null) {
      skipped.push({ package: row.id, reason: 'no version of it is complete here yet' });
      continue;
    }
    packages.push(await checkPackage(ctx, checker, row.id, row.complete_version, problems));
  }
  let unreferenced = 0;
  if (!input.package) {
    for await (const sha of ctx.store.list()) {
      if (checker.has(sha)) continue;
      unreferenced++;
      // Freed since it was listed: nothing to say about it.
      if ((await checker.check(sha)) !== 'damaged') continue;
      problems.push({ package: null, version: null, file: null, sha, size: 0, problem: 'damaged' });
    }
  }
  const result: VerifyResult = {
    site: ctx.config.code,
    packages,
    skipped,
    chunks: checker.chunks,
    bytes: checker.bytes,
    unreferenced,
    problems,
    repair: null,
    clean: problems.length === 0,
  };
  if (problems.length > 0) {
    const text = `content verify found ${problems.filter((p) => p.problem === 'damaged').length} damaged and ${problems.filter((p) => p.problem === 'missing').length} missing chunks`;
    await postMessage(ctx.db, ctx.sink, ctx.clock.now(), { severity: 'warning', component: 'dp', text });
    ctx.log('dp').warn({ problems: problems.length }, text);
  }
  if (input.repair && problems.length > 0) {
    result.repair = await repair(ctx, problems);
    result.clean = result.repair.items.every((i) => i.repaired);
  }
  return result;
}

/**
 * The parent's side of a repair: the chunks `child` asks for, of a package assigned to a DP at or
 * below it, each read back and verified here; one not of the package's complete version, or not
 * sound here, is left out. At most a transfer block is answered; its bytes count as sent to the child.
 */
export async function giveChunks(
  ctx: Pick<SiteContext, 'config' | 'db' | 'log' | 'metrics' | 'store'>,
  child: string,
  body: { package: string; chunks: string[] },
): Promise<{ sha: string; data: Buffer }[]> {
  const pkg = assertPackageId(body.package);
  const sites = await ctx.db
    .selectFrom('assignments')
    .select('site_code')
    .where('package_id', '=', pkg)
    .execute();
  let below = false;
  for (const { site_code } of sites) {
    if (site_code === child || (await nextHop(ctx.db, ctx.config.code, site_code)) === child) below = true;
    if (below) break;
  }
  if (!below)
    throw new OutpostError(
      'OUTPOST_PACKAGE_NOT_FOUND',
      `package ${pkg} is not assigned at or below ${child}`,
    );
  const row = await getPackageRow(ctx.db, pkg);
  if (row.complete_version === null)
    throw new OutpostError('OUTPOST_CONTENT_MISSING', `package ${pkg} is not complete at ${ctx.config.code}`);
  const wanted = new Set(body.chunks);
  const inPackage = new Set<string>();
  for await (const page of manifestPages(ctx.db, pkg, row.complete_version))
    for (const file of page) for (const [sha] of file.chunks) if (wanted.has(sha)) inPackage.add(sha);
  const given: { sha: string; data: Buffer }[] = [];
  let bytes = 0;
  for (const sha of wanted) {
    if (!inPackage.has(sha)) continue;
    const data = await ctx.store.get(sha).catch((err: Error) => {
      ctx
        .log('dp')
        .warn({ package: pkg, chunk: sha, err: err.message }, 'a child asked for a chunk not sound here');
      return null;
    });
    if (!data) continue;
    if (given.length > 0 && bytes + data.length > TRANSFER_BLOCK) break;
    given.push({ sha, data });
    bytes += data.length;
  }
  ctx.metrics.bytesSent.inc({ site: child }, bytes);
  return given;
}
