import { splitLines } from '../common/index.js';
import { assertPackagePath, type ManifestFile } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import {
  assertPackageId,
  heldVersion,
  manifestPages,
  OfferStaging,
  olderThanHeld,
} from '../packages/index.js';
import { ndjsonLine, OFFER_LIMIT, OfferFile, OfferHeader, readLine } from '../s2s/index.js';
import { assertSiteCode } from '../sites/index.js';
import { basesOf, basisAt, signBasis } from './patch.js';

/** Reads an offer's first line: the job and a package version this site could hold. */
export function checkOfferHeader(line: string): OfferHeader {
  const header = readLine(OfferHeader, line, 'offer header');
  assertPackageId(header.id);
  assertSiteCode(header.origin, 'package origin');
  return header;
}

/**
 * Reads the `n`th file line of an offer (from 1), refusing anything that could hurt this site if it were wrong: an
 * unsafe path, a malformed hash, an impossible chunk size, chunks that do not add up to the file.
 */
export function checkOfferFile(line: string, n: number): ManifestFile {
  const file: ManifestFile = readLine(OfferFile, line, `file ${n} of the offer`);
  assertPackagePath(file.path);
  const size = file.chunks.reduce((sum, [, bytes]) => sum + bytes, 0);
  if (size !== file.size)
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `'${file.path}': its chunks add up to ${size} bytes, not ${file.size}`,
    );
  return file;
}

/**
 * despooler, first step of a package job: the parent streams the manifest (NDJSON: a header line,
 * then one line per file); this site checks each line and stages it as it arrives, and the
 * manifest takes effect only once the whole body arrived and matched its signed hash. A body that
 * is wrong, cut short or not the one signed leaves nothing behind. The answer streams the chunks
 * this site does not hold yet, read back from the stored manifest a page at a time: content
 * already here — from an earlier version, another package or a preloaded copy — is never asked
 * for again. No more than a page of the manifest is held at either step.
 */
export async function acceptOffer(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'log' | 'store'>,
  body: AsyncIterable<Uint8Array>,
): Promise<AsyncIterable<string>> {
  const staging = new OfferStaging(ctx.db, ctx.clock.now());
  await staging.sweep();
  let header: OfferHeader | undefined;
  let files = 0;
  try {
    // Unless this version is held already: then its lines are only checked.
    let stage = false;
    for await (const line of splitLines(body, OFFER_LIMIT.lineBytes)) {
      if (!header) {
        header = checkOfferHeader(line);
        const held = await heldVersion(ctx.db, header.id);
        if (held !== null && held > header.sourceVersion) throw olderThanHeld(header, held);
        stage = held !== header.sourceVersion;
        continue;
      }
      if (files === header.files)
        throw new OutpostError(
          'OUTPOST_BAD_INPUT',
          `offer holds more than the ${header.files} files it announces`,
        );
      const file = checkOfferFile(line, files + 1);
      files++;
      if (stage) await staging.add(file, files);
    }
    if (!header) throw new OutpostError('OUTPOST_BAD_INPUT', 'offer is empty');
    if (files !== header.files)
      throw new OutpostError(
        'OUTPOST_BAD_INPUT',
        `offer holds ${files} of the ${header.files} files it announces`,
      );
    if (stage) await staging.commit(header);
  } finally {
    await staging.drop();
  }
  const { job, id, sourceVersion } = header;
  ctx.log('despooler').info({ job, package: id, version: sourceVersion, files }, 'offer received');
  return missingChunks(ctx, job, id, sourceVersion);
}

/**
 * The answer to an offer: a line for each chunk of the version this site lacks, then a last line
 * counting them. A chunk is named once a page; the parent asks for each chunk once.
 */
async function* missingChunks(
  ctx: Pick<SiteContext, 'db' | 'log' | 'store'>,
  job: string,
  id: string,
  version: number,
): AsyncGenerator<string> {
  let missing = 0;
  for await (const page of manifestPages(ctx.db, id, version)) {
    const named = new Set<string>();
    // What each file held before this version, read once a page, when a chunk is first missing.
    let bases: Map<string, [string, number][]> | undefined;
    for (const file of page) {
      let offset = 0;
      for (const [sha, size] of file.chunks) {
        const start = offset;
        offset += size;
        if (named.has(sha) || (await ctx.store.has(sha))) continue;
        named.add(sha);
        missing++;
        bases ??= await basesOf(
          ctx.db,
          id,
          version,
          page.map((f) => f.path),
        );
        const older = bases.get(file.path);
        const basis = older ? basisAt(start, offset, older) : [];
        const signature = basis.length ? await signBasis(ctx.store, basis) : null;
        yield ndjsonLine(signature ? { missing: sha, basis, signature } : { missing: sha });
      }
    }
  }
  yield ndjsonLine({ end: missing });
  ctx.log('despooler').info({ job, package: id, version, missing }, 'offer answered');
}
