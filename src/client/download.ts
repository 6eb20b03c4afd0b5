import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Dispatcher, request } from 'undici';
import { fsyncPath, sleep } from '../common/index.js';
import { errorFromResponse, OutpostError } from '../errors/index.js';
import type { TokenBucket } from './bucket.js';
import type { ClientData } from './state.js';

/** How often a download flushes its `.part` file and records how far it got. */
const SAVE_EVERY = 1024 * 1024;

export interface FileToFetch {
  path: string;
  size: number;
  sha256: string;
}

export interface DownloadOptions {
  /** Connections to the DP (from the agent's source address). */
  dispatcher: Dispatcher;
  /** Caps the rate of every download of the agent, when set. */
  bucket: TokenBucket | null;
  signal: AbortSignal;
  /** Called as bytes arrive: the bytes of the file now on disk, and how many just arrived. */
  onProgress?: (held: number, received: number) => void;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Whether `path` already holds exactly the file: same size and SHA-256. */
export async function holdsFile(path: string, file: FileToFetch): Promise<boolean> {
  return (await sizeOf(path)) === file.size && (await sha256Of(path)) === file.sha256;
}

/**
 * Fetches `file` from `url` to `dest`, resuming a partial download: the bytes already in its
 * `.part` file (as far as its state says they reached the disk) are kept and only the rest is asked
 * for, with `Range` and `If-Range` = the expected SHA-256, so a DP that now serves other bytes
 * sends the whole file instead. The whole file is verified by SHA-256 before it is renamed to
 * `dest`; on a mismatch the partial file is discarded and OUTPOST_HASH_MISMATCH thrown. Returns the
 * bytes fetched over the network. A cut connection or an abort keeps what arrived for next time.
 */
export async function downloadFile(
  data: ClientData,
  url: string,
  file: FileToFetch,
  dest: string,
  o: DownloadOptions,
): Promise<number> {
  await mkdir(data.downloads, { recursive: true });
  const part = data.partPath(file.sha256);
  const saved = await data.partState(file.sha256);
  const onDisk = (await sizeOf(part)) ?? 0;
  let held = saved && saved.size === file.size ? Math.min(saved.bytes, onDisk, file.size) : 0;
  const etag = `"${file.sha256}"`;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      dispatcher: o.dispatcher,
      signal: o.signal,
      headers: held > 0 ? { range: `bytes=${held}-`, 'if-range': etag } : {},
    });
  } catch (err) {
    if (o.signal.aborted) throw err;
    const e = err as Error & { code?: string };
    throw new OutpostError('OUTPOST_UNREACHABLE', `cannot reach DP at ${url}: ${e.code ?? e.message}`);
  }
  const header = (name: string) => {
    const v = res.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  if (res.statusCode === 416 && held === file.size) {
    await res.body.dump();
  } else if (res.statusCode !== 200 && res.statusCode !== 206) {
    throw errorFromResponse(res.statusCode, await res.body.text(), url);
  } else if (header('etag') !== undefined && header('etag') !== etag) {
    await res.body.dump();
    throw new OutpostError(
      'OUTPOST_HASH_MISMATCH',
      `DP at ${url} serves another version of ${file.path} (ETag ${header('etag')}, expected ${etag})`,
    );
  } else if (res.statusCode === 206 && !header('content-range')?.startsWith(`bytes ${held}-`)) {
    await res.body.dump();
    throw new OutpostError(
      'OUTPOST_UNREACHABLE',
      `DP at ${url} answered range ${header('content-range')}, not from byte ${held}`,
    );
  }
  // A 200 is the whole file: what was held is replaced.
  if (res.statusCode === 200) held = 0;

  const fetched = await writePart(data, part, file, held, res, o);
  const digest = await sha256Of(part);
  if (digest !== file.sha256) {
    await rm(part, { force: true });
    await rm(data.partStatePath(file.sha256), { force: true });
    throw new OutpostError(
      'OUTPOST_HASH_MISMATCH',
      `${file.path} from ${url} has SHA-256 ${digest}, expected ${file.sha256}; discarded`,
    );
  }
  await mkdir(dirname(dest), { recursive: true });
  await rename(part, dest);
  await fsyncPath(dirname(dest));
  await rm(data.partStatePath(file.sha256), { force: true });
  return fetched;
}

/** Writes the body from byte `held` on, flushing and recording progress as it goes; returns the bytes received. */
async function writePart(
  data: ClientData,
  part: string,
  file: FileToFetch,
  held: number,
  res: Dispatcher.ResponseData,
  o: DownloadOptions,
): Promise<number> {
  const handle = await open(part, held > 0 ? 'r+' : 'w');
  let pos = held;
  let savedAt = held;
  const save = async () => {
    await handle.sync();
    await data.savePartState({ sha256: file.sha256, size: file.size, bytes: pos });
    savedAt = pos;
  };
  try {
    await handle.truncate(held);
    if (res.statusCode !== 416) {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (pos + chunk.length > file.size)
          throw new OutpostError(
            'OUTPOST_HASH_MISMATCH',
            `${file.path} is longer than its ${file.size} bytes`,
          );
        const wait = o.bucket?.reserve(chunk.length, Date.now()) ?? 0;
        if (wait > 0) await sleep(wait, o.signal);
        o.signal.throwIfAborted();
        await handle.write(chunk, 0, chunk.length, pos);
        pos += chunk.length;
        o.onProgress?.(pos, chunk.length);
        if (pos - savedAt >= SAVE_EVERY) await save();
      }
    }
    if (pos !== file.size)
      throw new OutpostError(
        'OUTPOST_UNREACHABLE',
        `download of ${file.path} ended at byte ${pos} of ${file.size}`,
      );
    await handle.sync();
  } catch (err) {
    // What arrived stays for the next attempt, unless it cannot be the file.
    if (err instanceof OutpostError && err.code === 'OUTPOST_HASH_MISMATCH') {
      await handle.close();
      await rm(part, { force: true });
      await rm(data.partStatePath(file.sha256), { force: true });
      throw err;
    }
    await save().catch(() => undefined);
    await handle.close();
    if (o.signal.aborted) throw err;
    if (err instanceof OutpostError) throw err;
    const e = err as Error & { code?: string };
    throw new OutpostError(
      'OUTPOST_UNREACHABLE',
      `download of ${file.path} cut at byte ${pos} of ${file.size}: ${e.code ?? e.message}`,
    );
  }
  await handle.close();
  return pos - held;
}
