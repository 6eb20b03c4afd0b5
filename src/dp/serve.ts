import type { Writable } from 'node:stream';
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
  /**
   * Writes bytes `start`..`end` (inclusive) of the file to `out` (the HTTP response), read from the
   * store a block at a time and never whole; does not end `out`. `written` hears of each block
   * once `out` has taken it.
   */
  writeTo(out: Writable, start: number, end: number, written?: (bytes: number) => void): Promise<void>;
}

/**
 * How much of a file one read takes from the content library. A response holds two such blocks
 * (one being read ahead while the socket takes the other), so a hundred downloads hold ~100 MiB;
 * 512 KiB used a fifth less CPU per byte than 256 KiB (fewer reads and writes, bench/dp-serve.ts).
 */
const SERVE_BLOCK = 512 * 1024;
/** Blocks kept for the next responses once written: at most 128 MiB, whatever the load was. */
const SPARE_BLOCKS = 256;

// Reused rather than allocated per read: a fresh 256 KiB buffer per read made V8's garbage
// collector threads use more CPU than the whole rest of the serving (measured, bench/dp-serve.ts).
const spare: Buffer[] = [];
const takeBlock = () => spare.pop() ?? Buffer.allocUnsafeSlow(SERVE_BLOCK);
const giveBack = (block: Buffer) => {
  if (spare.length < SPARE_BLOCKS) spare.push(block);
};

/** Bytes `start`..`end` of a file of `chunks`, a block at a time, each in a block of the pool. */
async function* fileBlocks(
  store: ContentStore,
  chunks: [string, number][],
  start: number,
  end: number,
): AsyncGenerator<{ block: Buffer; length: number }> {
  let offset = 0;
  for (const [sha, size] of chunks) {
    if (offset + size > start && offset <= end) {
      const reader = await store.openChunk(sha);
      try {
        const stop = Math.min(size, end - offset + 1);
        for (let at = Math.max(0, start - offset); at < stop; ) {
          const block = takeBlock();
          const length = await reader.read(block, at, Math.min(SERVE_BLOCK, stop - at)).catch((err) => {
            giveBack(block);
            throw err;
          });
          if (length === 0) {
            giveBack(block);
            throw new OutpostError(
              'OUTPOST_CONTENT_MISSING',
              `chunk ${sha.slice(0, 12)} in the content library is shorter than its ${size} bytes`,
            );
          }
          yield { block, length };
          at += length;
        }
      } finally {
        await reader.close();
      }
    }
    offset += size;
    if (offset > end) return;
  }
}

/** Resolves when `out` can take more, rejects if it closes first (the client went away). */
function drained(out: Writable): Promise<void> {
  const gone = () => new OutpostError('OUTPOST_UNREACHABLE', 'the client closed the connection');
  // Closed already: neither event will come again.
  if (out.destroyed) return Promise.reject(gone());
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(gone());
    out.on('drain', onDrain);
    out.on('close', onClose);
  });
}

/**
 * Writes bytes `start`..`end` of a file to `out`, reading the next block while the socket takes the
 * last one; a block goes back to the pool once `out` has written it (its write callback).
 */
async function writeFileBytes(
  store: ContentStore,
  chunks: [string, number][],
  start: number,
  end: number,
  out: Writable,
  written?: (bytes: number) => void,
): Promise<void> {
  const blocks = fileBlocks(store, chunks, start, end);
  let next = blocks.next();
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = blocks.next();
      next.catch(() => undefined); // awaited on the next turn, or dropped when the client is gone
      const { block, length } = current.value;
      const taken = (err?: Error | null) => {
        giveBack(block);
        if (!err) written?.(length);
      };
      if (!out.write(block.subarray(0, length), taken)) await drained(out);
    }
  } finally {
    await blocks.return(undefined);
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
    writeTo: (out, start, end, written) => writeFileBytes(ctx.store, chunks, start, end, out, written),
  };
}
