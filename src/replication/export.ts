import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { distinctChunks, type ManifestFile, packageFileName, writePackageFile } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { assertPackageId, getPackageRow, manifestPages } from '../packages/index.js';
import { parseDpName } from '../sites/index.js';
import { tracked } from './library.js';

/** One package file of an export: written now, or already there from an earlier run. */
export interface ExportedFile {
  id: string;
  sourceVersion: number;
  file: string;
  bytes: number;
  state: 'written' | 'present';
}

async function packagesOfDp(db: SiteContext['db'], dp: string): Promise<string[]> {
  const { dp: name } = parseDpName(dp);
  const rows = await db
    .selectFrom('assignments')
    .select('package_id')
    .distinct()
    .where('dp', '=', name)
    .orderBy('package_id')
    .execute();
  if (!rows.length)
    throw new OutpostError('OUTPOST_NOT_FOUND', `no package is assigned to DP ${name} here`, {
      hint: 'outpost status packages shows what each DP has',
    });
  return rows.map((r) => r.package_id);
}

/**
 * `content export`: writes one package file per package version (docs/PACKAGE-FILE.md) into `out`
 * on this site's host, where the content library is. A file already there under its final name
 * is whole (each is written under a temporary name and renamed once synced), so a rerun after an
 * interruption writes only what is missing. Only a version held whole here can be exported.
 */
export async function exportPackages(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'store'>,
  input: { packages?: string[]; dp?: string; out: string; progressId?: string },
): Promise<{ out: string; files: ExportedFile[] }> {
  if (!isAbsolute(input.out))
    throw new OutpostError('OUTPOST_BAD_INPUT', `--out '${input.out}' must be an absolute folder`);
  if (!!input.dp === !!input.packages?.length)
    throw new OutpostError('OUTPOST_BAD_INPUT', 'give either --package ID… or --dp CODE');
  const ids = input.dp ? await packagesOfDp(ctx.db, input.dp) : (input.packages ?? []).map(assertPackageId);
  const plan: { id: string; name: string; origin: string; version: number; files: ManifestFile[] }[] = [];
  for (const id of ids) {
    const row = await getPackageRow(ctx.db, id);
    if (row.complete_version !== row.source_version)
      throw new OutpostError(
        'OUTPOST_CONTENT_MISSING',
        `package ${id} version ${row.source_version} is not whole here yet`,
        { hint: 'export it where it is installed, or wait until it arrives' },
      );
    const files: ManifestFile[] = [];
    for await (const page of manifestPages(ctx.db, id, row.source_version)) files.push(...page);
    plan.push({ id, name: row.name, origin: row.origin_site, version: row.source_version, files });
  }
  await mkdir(input.out, { recursive: true }).catch((err: Error) => {
    throw new OutpostError('OUTPOST_BAD_INPUT', `--out '${input.out}' cannot be created: ${err.message}`);
  });
  return tracked(input.progressId, ctx.clock.now(), async (progress) => {
    const size = (files: ManifestFile[]) => distinctChunks(files).reduce((s, [, n]) => s + n, 0);
    const todo = plan.filter((p) => !existsSync(join(input.out, packageFileName(p.id, p.version))));
    progress.phase = 'writing';
    progress.bytesTotal = todo.reduce((s, p) => s + size(p.files), 0);
    const files: ExportedFile[] = [];
    for (const p of plan) {
      const file = join(input.out, packageFileName(p.id, p.version));
      const entry = { id: p.id, sourceVersion: p.version, file, bytes: size(p.files) };
      if (!todo.includes(p)) {
        files.push({ ...entry, state: 'present' });
        continue;
      }
      await writePackageFile(
        file,
        {
          format: 'outpost-package/1',
          id: p.id,
          name: p.name,
          sourceVersion: p.version,
          origin: p.origin,
          files: p.files,
        },
        (sha) => ctx.store.get(sha),
        (bytes) => {
          progress.bytesDone += bytes;
        },
      );
      files.push({ ...entry, state: 'written' });
    }
    return { out: input.out, files };
  });
}
