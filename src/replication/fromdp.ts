import { type ChunkBytes, VerifyPool } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { type RemoteDp, readDpRange } from '../dp/index.js';
import { OutpostError } from '../errors/index.js';
import type { KnownManifest } from '../s2s/index.js';
import type { LibraryProgress } from './library.js';
import { ChunkImporter, type Found, keepForLater, type PreloadSet } from './preloading.js';

/** A chunk of a file: its hash, size and where it starts in the file. */
interface Piece {
  sha: string;
  size: number;
  offset: number;
}

/** A file of a known version that holds chunks this site lacks. */
interface Source {
  m: KnownManifest;
  file: KnownManifest['files'][number];
  /** Each chunk of the file, in order, with its offset. */
  pieces: Piece[];
  /** The distinct chunks this site lacks that the file holds. */
  lacked: Set<string>;
}

/** Runs of consecutive pieces, each fetched with one range request. */
function runsOf(pieces: Piece[], take: (p: Piece) => boolean): Piece[][] {
  const runs: Piece[][] = [];
  let run: Piece[] = [];
  for (const p of pieces) {
    if (take(p)) run.push(p);
    else if (run.length) {
      runs.push(run);
      run = [];
    }
  }
  if (run.length) runs.push(run);
  return runs;
}

/** Cuts a range answer into the run's chunks, each in a Buffer of its own (it moves to a worker). */
async function* cut(
  body: AsyncIterable<Uint8Array>,
  run: Piece[],
  about: { item: string; id: string },
): AsyncGenerator<ChunkBytes & Found> {
  let i = 0;
  let data = Buffer.allocUnsafeSlow(run[0].size);
  let filled = 0;
  for await (const part of body) {
    let at = 0;
    while (at < part.length) {
      if (i >= run.length) throw new Error('it answered more bytes than asked for');
      const n = Math.min(part.length - at, data.length - filled);
      data.set(part.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled < data.length) continue;
      yield { sha: run[i].sha, size: run[i].size, data, ...about, stale: false };
      i++;
      if (i < run.length) {
        data = Buffer.allocUnsafeSlow(run[i].size);
        filled = 0;
      }
    }
  }
  if (i < run.length) throw new Error(`its answer ended before chunk ${i + 1} of ${run.length}`);
}

/**
 * Preload from another site's DP (a neighbour on the LAN): the files of the known versions that hold
 * chunks this site lacks are fetched from it with range requests for exactly those chunks, each
 * only if the DP's version of the file is the known one (If-Match), and every chunk is verified by
 * its hash on all cores as it arrives, and stored like a chunk found in a folder. A chunk held
 * already is never fetched again, so a rerun after an interruption fetches only what is left. A
 * file the DP does not hold, or holds in another version, is passed over (another file holding the
 * same chunks may still give them). If the DP stops answering, what was verified is kept and it
 * throws. Says which versions this run touched: the DP served a file of it, or a chunk it uses.
 */
export async function fetchFromDp(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'store'>,
  dp: RemoteDp,
  { known, wanted, ids, summary }: PreloadSet,
  progress: LibraryProgress,
): Promise<(m: KnownManifest, sha: string) => boolean> {
  const lacked = new Map<string, number>();
  for (const [sha, { size }] of wanted) {
    if (await ctx.store.has(sha)) {
      summary.chunks.alreadyHeld++;
      summary.chunks.alreadyHeldBytes += size;
    } else lacked.set(sha, size);
  }
  await keepForLater(ctx, lacked.keys(), wanted);

  // Which files to ask for, and how many of them could give each chunk: a chunk that none of them
  // gives leaves the progress total once the last one has been asked.
  const sources: Source[] = [];
  const suppliers = new Map<string, number>();
  for (const m of [...known.values()].sort((a, b) => (a.id < b.id ? -1 : 1)))
    for (const file of m.files) {
      const pieces: Piece[] = [];
      let offset = 0;
      for (const [sha, size] of file.chunks) {
        pieces.push({ sha, size, offset });
        offset += size;
      }
      const mine = new Set(pieces.filter((p) => lacked.has(p.sha)).map((p) => p.sha));
      if (!mine.size) continue;
      sources.push({ m, file, pieces, lacked: mine });
      for (const sha of mine) suppliers.set(sha, (suppliers.get(sha) ?? 0) + 1);
    }
  progress.phase = 'fetching';
  progress.bytesTotal = [...lacked.values()].reduce((s, n) => s + n, 0);

  const claimed = new Set<string>();
  const served = new Set<string>();
  const asked = new Set<string>();
  const otherVersion = new Map<string, number>();
  const stop: { error: OutpostError | null } = { error: null };
  const abort = new AbortController();
  /** A file has been asked for: the chunks it was the last hope for leave the total unless fetched. */
  const passOver = (s: Source) => {
    for (const sha of s.lacked) {
      const left = (suppliers.get(sha) ?? 1) - 1;
      suppliers.set(sha, left);
      if (left === 0 && !claimed.has(sha)) progress.bytesTotal -= lacked.get(sha) ?? 0;
    }
  };

  async function* fetched(): AsyncGenerator<ChunkBytes & Found> {
    for (const s of sources) {
      const { m, file } = s;
      const item = `${m.id}/${file.path}`;
      asked.add(m.id);
      // Each lacked chunk once: not one an earlier file gives, nor a repeat within this file.
      const here = new Set<string>();
      const take = (p: Piece) => {
        if (!lacked.has(p.sha) || claimed.has(p.sha) || here.has(p.sha)) return false;
        here.add(p.sha);
        return true;
      };
      for (const run of runsOf(s.pieces, take)) {
        const last = run[run.length - 1];
        try {
          const answer = await readDpRange(
            dp,
            { pkg: m.id, path: file.path, sha256: file.sha256 },
            run[0].offset,
            last.offset + last.size - 1,
            abort.signal,
          );
          if (answer.state === 'other version') otherVersion.set(m.id, (otherVersion.get(m.id) ?? 0) + 1);
          if (answer.state !== 'served') break;
          served.add(m.id);
          for (const p of run) claimed.add(p.sha);
          yield* cut(answer.body, run, { item, id: m.id });
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          stop.error = new OutpostError(
            'OUTPOST_UNREACHABLE',
            `DP ${dp.dp} (${dp.url}) stopped answering at ${item}: ${why}`,
            {
              hint: 'what was verified is kept: run the same preload again to fetch only the rest',
              cause: err,
            },
          );
          return;
        }
      }
      passOver(s);
    }
  }

  const importer = new ChunkImporter(ctx, summary, progress);
  const pool = new VerifyPool();
  try {
    for await (const v of pool.verifyAll(fetched()))
      if (!(await importer.take(v))) progress.bytesDone += v.chunk.size;
    await importer.flush();
  } finally {
    abort.abort();
    await pool.close();
  }
  if (stop.error) throw stop.error;
  for (const [id, files] of otherVersion)
    summary.skipped.push({
      id,
      reason: 'stale version',
      detail: `DP ${dp.dp} holds another version of ${files} of its files; the parent sends what they lack`,
    });
  for (const id of ids)
    if (asked.has(id) && !served.has(id) && !otherVersion.has(id))
      summary.skipped.push({ id, reason: 'not found', detail: `DP ${dp.dp} does not serve it` });
  return (m, sha) => served.has(m.id) || claimed.has(sha);
}
