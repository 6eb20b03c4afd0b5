import { Readable } from 'node:stream';
import { applyDelta, type ContentStore, DELTA_BLOCK, encodeDelta, signatureOf } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import {
  type BlockChunk,
  BODY_LIMIT,
  MAX_BASIS_BYTES,
  MAX_BASIS_CHUNKS,
  type PatchHeader,
  S2S,
  s2sPutPatch,
} from '../s2s/index.js';
import { diskFullHere } from './despooler.js';
import { type RateLimiter, throttledAll } from './throttle.js';

type Chunks = [sha: string, size: number][];

/**
 * The chunks of the older version of a file that lie at bytes `start`..`end` (exclusive) of it: the
 * basis a chunk of the new version there can be sent as a delta against. Empty when there is none,
 * or when they would be more than a delta's basis may hold.
 */
export function basisAt(start: number, end: number, older: Chunks): string[] {
  const basis: string[] = [];
  let bytes = 0;
  let at = 0;
  for (const [sha, size] of older) {
    if (at >= end) break;
    if (at + size > start) {
      basis.push(sha);
      bytes += size;
    }
    at += size;
  }
  return basis.length > MAX_BASIS_CHUNKS || bytes > MAX_BASIS_BYTES ? [] : basis;
}

/** The older version's chunks of each of `paths` of a package version received from the parent. */
export async function basesOf(
  db: SiteContext['db'],
  id: string,
  version: number,
  paths: string[],
): Promise<Map<string, Chunks>> {
  const rows = await db
    .selectFrom('package_files')
    .select(['path', 'basis_chunks'])
    .where('package_id', '=', id)
    .where('source_version', '=', version)
    .where('path', 'in', paths)
    .where('basis_chunks', 'is not', null)
    .execute();
  return new Map(rows.map((r) => [r.path, JSON.parse(r.basis_chunks ?? '[]') as Chunks]));
}

/** The signature (base64) of the basis chunks back to back, or null when one of them is not here. */
export async function signBasis(store: Pick<ContentStore, 'read'>, basis: string[]): Promise<string | null> {
  const parts: Buffer[] = [];
  for (const sha of basis) {
    // Unverified: a basis that rotted only makes the rebuilt chunk fail its hash, and it is then sent whole.
    const data = await store.read(sha).catch(() => null);
    if (!data) return null;
    parts.push(data);
  }
  return signatureOf(Buffer.concat(parts), DELTA_BLOCK).toString('base64');
}

async function readBounded(body: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const piece of body) {
    bytes += piece.byteLength;
    if (bytes > limit)
      throw new OutpostError('OUTPOST_TOO_LARGE', `a patch is larger than the ${limit} bytes it may carry`);
    parts.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
  }
  return Buffer.concat(parts, bytes);
}

/**
 * despooler: a chunk sent as a delta. It is rebuilt from the basis chunks held here and stored like
 * a chunk of a block, only if it matches its hash; `from` is the parent that sent it. A basis no longer here (freed meanwhile) or a
 * rebuilt chunk that does not match answers `stored: false`, and the parent sends the chunk whole.
 */
export async function acceptPatch(
  ctx: Pick<SiteContext, 'config' | 'log' | 'metrics' | 'store'>,
  from: string,
  patch: PatchHeader,
  body: AsyncIterable<Uint8Array>,
): Promise<{ stored: boolean; reason?: string }> {
  const delta = await readBounded(body, BODY_LIMIT[S2S.patches]);
  const refused = (reason: string) => {
    ctx
      .log('despooler')
      .warn({ chunk: patch.sha, reason }, 'patch not used; the parent sends the chunk whole');
    return { stored: false, reason };
  };
  const basis: Buffer[] = [];
  for (const sha of patch.basis) {
    const data = await ctx.store.read(sha).catch(() => null);
    if (!data) return refused(`basis chunk ${sha.slice(0, 12)} is not here`);
    basis.push(data);
  }
  let chunk: Buffer;
  try {
    chunk = applyDelta(Buffer.concat(basis), delta, patch.block, patch.size);
  } catch (err) {
    if (!(err instanceof OutpostError)) throw err;
    return refused(err.message);
  }
  const { rejected } = await ctx.store.putMany([{ sha: patch.sha, data: chunk }]).catch((err: unknown) => {
    throw diskFullHere(ctx, err);
  });
  if (rejected.length) return refused(`the rebuilt chunk ${rejected[0].reason}`);
  ctx.metrics.bytesReceived.inc({ site: from }, delta.length);
  ctx.metrics.patchedBytes.inc(patch.size);
  return { stored: true };
}

/** A chunk the child lacks, with the basis it offered a delta against and that basis's signature. */
export interface MissingChunk extends BlockChunk {
  basis?: string[];
  signature?: string;
}

/** A delta is sent only when it saves at least this share of the chunk; otherwise the chunk goes whole. */
const WORTH_IT = 0.75;

/**
 * sender: sends as deltas the missing chunks the child offered a basis for, one request each, and
 * returns the ones to send whole instead (a delta that would save little, or one the child could
 * not use). `sent` hears of each chunk the child stored, by its size.
 */
export async function sendPatches(
  ctx: Pick<SiteContext, 'identity' | 'log' | 'metrics' | 'store'>,
  to: { site: string; url: string },
  chunks: MissingChunk[],
  run: {
    limiter: RateLimiter | null;
    signal: AbortSignal;
    stillHeld: () => Promise<void>;
    sent: (bytes: number) => void;
  },
): Promise<MissingChunk[]> {
  const whole: MissingChunk[] = [];
  for (const chunk of chunks) {
    if (!chunk.basis || !chunk.signature) {
      whole.push(chunk);
      continue;
    }
    await run.stillHeld();
    const signature = Buffer.from(chunk.signature, 'base64');
    let delta: Buffer;
    try {
      delta = encodeDelta(await ctx.store.read(chunk.sha), signature);
    } catch (err) {
      if (!(err instanceof OutpostError) || err.code !== 'OUTPOST_BAD_INPUT') throw err;
      whole.push(chunk);
      continue;
    }
    if (delta.length > chunk.size * WORTH_IT) {
      whole.push(chunk);
      continue;
    }
    const patch = { sha: chunk.sha, size: chunk.size, block: signature.readUInt32BE(0), basis: chunk.basis };
    const body = Readable.from(throttledAll([delta], run.limiter, run.signal));
    ctx.metrics.blocksInFlight.inc({ site: to.site });
    const answer = await s2sPutPatch(ctx.identity, to.url, patch, body, delta.length, run.signal).finally(
      () => ctx.metrics.blocksInFlight.dec({ site: to.site }),
    );
    if (!answer.stored) {
      ctx
        .log('sender')
        .info(
          { chunk: chunk.sha, reason: answer.reason },
          'child could not use a delta; sending the chunk whole',
        );
      whole.push(chunk);
      continue;
    }
    ctx.metrics.bytesSent.inc({ site: to.site }, delta.length);
    run.sent(chunk.size);
  }
  return whole;
}
