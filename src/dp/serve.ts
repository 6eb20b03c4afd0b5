import type { ContentStore } from '../content/index.js';
import { assertPackagePath } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { assertPackageId } from '../packages/index.js';
import { installedVersion } from './install.js';

/** A file this DP serves: the installed version's, made of verified chunks of the content library. */
export interface ServedFile {
  path: string;
  sha256: string;
  size: number;
  /** Bytes `start`..`end` (inclusive) of the file, read from the store chunk by chunk. */
  read(start: number, end: number): AsyncGenerator<Buffer>;
}

async function* fileBytes(
  store: ContentStore,
  chunks: [string, number][],
  start: number,
  end: number,
): AsyncGenerator<Buffer> {
  let offset = 0;
  for (const [sha, size] of chunks) {
    const chunkEnd = offset + size - 1;
    if (chunkEnd >= start && offset <= end) {
      const data = await store.read(sha);
      yield data.subarray(Math.max(0, start - offset), Math.min(size, end - offset + 1));
    }
    offset += size;
    if (offset > end) return;
  }
}

/**
 * The file at `rawPath` of package `pkg` as DP `dp` of this site serves it. Nothing of a package is
 * served before it is Installed on that DP.
 */
export async function servedFile(
  ctx: Pick<SiteContext, 'db' | 'store'>,
  dp: string,
  pkg: string,
  rawPath: string,
): Promise<ServedFile> {
  assertPackageId(pkg);
  const path = assertPackagePath(rawPath);
  const version = await installedVersion(ctx, pkg, dp);
  const file =
    version === null
      ? undefined
      : await ctx.db
          .selectFrom('package_files')
          .select(['sha256', 'size', 'chunks'])
          .where('package_id', '=', pkg)
          .where('source_version', '=', version)
          .where('path', '=', path)
          .executeTakeFirst();
  if (!file) throw new OutpostError('OUTPOST_FILE_NOT_FOUND', `${pkg}/${path} is not installed on DP ${dp}`);
  const chunks = JSON.parse(file.chunks) as [string, number][];
  return {
    path,
    sha256: file.sha256,
    size: file.size,
    read: (start, end) => fileBytes(ctx.store, chunks, start, end),
  };
}
