import { createHash } from 'node:crypto';
import { formatBytes, limitConcurrency } from '../common/index.js';
import type { SiteContext } from '../core/index.js';
import { dpBaseUrl } from '../dp/index.js';
import { OutpostError } from '../errors/index.js';
import { probe } from './http.js';
import { check, type DoctorCheck } from './model.js';

/** Without `--full`: at most this many files a DP serves are asked for with HEAD … */
const HEAD_SAMPLE = 100;
/** … and at most this many chunks, and bytes, of the content they are made of are re-hashed. */
const CHUNK_SAMPLE = 32;
const BYTES_SAMPLE = 64 * 1024 * 1024;
/** Requests or reads at once. */
const PARALLEL = 8;

interface InstalledFile {
  dp: string;
  package: string;
  path: string;
  size: number;
  sha256: string;
  chunks: [string, number][];
}

/** `n` of `items` chosen at random (all of them when there are no more). */
export function sample<T>(items: readonly T[], n: number, random: () => number = Math.random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, n);
}

function summary(problems: string[]): string {
  return problems.slice(0, 3).join('; ') + (problems.length > 3 ? ` (and ${problems.length - 3} more)` : '');
}

/** Whether one DP serves its Installed files: HEAD of each answers 200 with its SHA-256 as ETag and its length. */
async function servesFiles(
  ctx: Pick<SiteContext, 'config'>,
  dp: { dp: string; url: string | null },
  files: InstalledFile[],
  full: boolean,
): Promise<DoctorCheck> {
  const base = dpBaseUrl(ctx.config.url, dp.dp, dp.url);
  const chosen = full ? files : sample(files, HEAD_SAMPLE);
  const slots = limitConcurrency(PARALLEL);
  const problems: string[] = [];
  await Promise.all(
    chosen.map((f) =>
      slots(async () => {
        const url = `${base}${encodeURIComponent(f.package)}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
        try {
          const res = await probe(url, { method: 'HEAD' });
          const length = Number(res.headers['content-length']);
          if (res.status !== 200) problems.push(`${f.package}/${f.path}: HTTP ${res.status}`);
          else if (res.headers.etag !== `"${f.sha256}"`)
            problems.push(`${f.package}/${f.path}: ETag ${String(res.headers.etag)}, not its SHA-256`);
          else if (length !== f.size)
            problems.push(`${f.package}/${f.path}: length ${length}, not ${f.size}`);
        } catch (err) {
          problems.push(`${f.package}/${f.path}: ${(err as Error).message}`);
        }
      }),
    ),
  );
  const packages = new Set(files.map((f) => f.package)).size;
  if (files.length === 0) return check('dp', dp.dp, 'ok', 'no package Installed here yet');
  if (problems.length)
    return check(
      'dp',
      dp.dp,
      'fail',
      `${problems.length} of ${chosen.length} files do not answer as installed: ${summary(problems)}`,
      `is ${base} reachable? outpost dp redistribute ID --dp ${dp.dp} sends a package again`,
    );
  return check(
    'dp',
    dp.dp,
    'ok',
    `${packages} packages Installed; ${chosen.length}${chosen.length < files.length ? ` (a sample) of ${files.length}` : ''} files answer HEAD with their ETag and length`,
  );
}

/**
 * Whether the content the DPs serve is sound: chunks of their Installed files read back from the
 * content library and re-hashed, a sample bounded in count and bytes, or every one with `full`.
 */
async function contentSound(
  ctx: Pick<SiteContext, 'config' | 'store'>,
  files: InstalledFile[],
  full: boolean,
): Promise<DoctorCheck> {
  const target = `${ctx.config.code} content`;
  const owners = new Map<string, { size: number; file: InstalledFile }>();
  for (const f of files)
    for (const [sha, size] of f.chunks) if (!owners.has(sha)) owners.set(sha, { size, file: f });
  let chosen = [...owners.keys()];
  if (!full) {
    let bytes = 0;
    chosen = sample(chosen, CHUNK_SAMPLE).filter((sha) => {
      bytes += owners.get(sha)?.size ?? 0;
      return bytes <= BYTES_SAMPLE;
    });
  }
  const slots = limitConcurrency(PARALLEL);
  const problems: string[] = [];
  let bytes = 0;
  await Promise.all(
    chosen.map((sha) =>
      slots(async () => {
        const where = owners.get(sha)?.file;
        const name = `chunk ${sha.slice(0, 12)} of ${where?.package}/${where?.path}`;
        try {
          const data = await ctx.store.read(sha);
          bytes += data.length;
          if (createHash('sha256').update(data).digest('hex') !== sha)
            problems.push(`${name} is damaged (its SHA-256 does not match)`);
        } catch (err) {
          if (err instanceof OutpostError && err.code === 'OUTPOST_CONTENT_MISSING')
            problems.push(`${name} is missing`);
          else problems.push(`${name}: ${(err as Error).message}`);
        }
      }),
    ),
  );
  if (owners.size === 0) return check('dp', target, 'ok', 'no Installed content to verify yet');
  const scope = full ? `all ${chosen.length} chunks` : `${chosen.length} of ${owners.size} chunks (a sample)`;
  if (problems.length)
    return check(
      'dp',
      target,
      'fail',
      `${problems.length} of ${scope} are not sound: ${summary(problems)}`,
      `outpost content verify --repair at ${ctx.config.code} fetches the damaged chunks from its parent`,
    );
  return check(
    'dp',
    target,
    'ok',
    `${scope}, ${formatBytes(bytes)}, of Installed packages match their SHA-256`,
  );
}

/** The DP checks: each DP of this site (default and named) serves its Installed packages, soundly. */
export async function dpChecks(
  ctx: Pick<SiteContext, 'config' | 'db' | 'store'>,
  full: boolean,
): Promise<DoctorCheck[]> {
  const self = ctx.config.code;
  const named = await ctx.db.selectFrom('dps').select(['dp', 'url']).where('site_code', '=', self).execute();
  const dps = [{ dp: self, url: null }, ...named];
  const rows = await ctx.db
    .selectFrom('package_status')
    .innerJoin('package_files', (j) =>
      j
        .onRef('package_files.package_id', '=', 'package_status.package_id')
        .onRef('package_files.source_version', '=', 'package_status.source_version'),
    )
    .select([
      'package_status.dp',
      'package_status.package_id',
      'package_files.path',
      'package_files.size',
      'package_files.sha256',
      'package_files.chunks',
    ])
    .where('package_status.site_code', '=', self)
    .where('package_status.state', '=', 'Installed')
    .execute();
  const files: InstalledFile[] = rows.map((r) => ({
    dp: r.dp,
    package: r.package_id,
    path: r.path,
    size: r.size,
    sha256: r.sha256,
    chunks: JSON.parse(r.chunks) as [string, number][],
  }));
  const checks: DoctorCheck[] = [];
  for (const dp of dps)
    checks.push(
      await servesFiles(
        ctx,
        dp,
        files.filter((f) => f.dp === dp.dp),
        full,
      ),
    );
  checks.push(await contentSound(ctx, files, full));
  return checks;
}
