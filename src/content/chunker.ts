import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/**
 * Content-defined chunking (a gear rolling hash with FastCDC's normalised cut points), so an edit in
 * the middle of a large file moves only the chunk boundaries around it and delta replication sends
 * just the changed chunks. A chunk is the unit that is stored, deduplicated and verified; chunks
 * average a little over 1 MiB and never exceed MAX_CHUNK. The sender packs several chunks into
 * each transfer block of up to 8 MiB; a block, not a chunk, is the most a resumed transfer re-sends.
 */
export const MIN_CHUNK = 256 * 1024;
export const NORMAL_CHUNK = 1024 * 1024;
export const MAX_CHUNK = 4 * 1024 * 1024;

// Top bits of the gear hash (FastCDC's normalised chunking): 21 bits before the normal size make an
// early cut unlikely, 19 after make a cut soon after it; chunks average a little over 1 MiB.
const MASK_SMALL = 0xfffff800 | 0; // 21 bits
const MASK_LARGE = 0xffffe000 | 0; // 19 bits

const GEAR = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    table[i] = createHash('sha256').update(`outpost-gear-${i}`).digest().readInt32LE(0);
  }
  return table;
})();

/** Where the first chunk of `data` ends; `data` holds at least MAX_CHUNK bytes unless it is the tail. */
export function findCut(data: Uint8Array): number {
  const n = data.length;
  if (n <= MIN_CHUNK) return n;
  const normal = Math.min(n, NORMAL_CHUNK);
  const max = Math.min(n, MAX_CHUNK);
  let h = 0;
  let i = MIN_CHUNK;
  for (; i < normal; i++) {
    h = ((h << 1) + GEAR[data[i]]) | 0;
    if ((h & MASK_SMALL) === 0) return i + 1;
  }
  for (; i < max; i++) {
    h = ((h << 1) + GEAR[data[i]]) | 0;
    if ((h & MASK_LARGE) === 0) return i + 1;
  }
  return max;
}

const READ_SIZE = 8 * 1024 * 1024;

/**
 * Reads a file and yields its chunks in order. It reads the size the file had when opened (as tar
 * does), in buffers no larger than that, so a small file costs a small buffer.
 */
export async function* chunkFile(path: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    let left = (await handle.stat()).size;
    let pending: Buffer = Buffer.alloc(0);
    for (;;) {
      while (left > 0 && pending.length < MAX_CHUNK) {
        const block = Buffer.allocUnsafe(Math.min(READ_SIZE, left));
        const { bytesRead } = await handle.read(block, 0, block.length, null);
        // A file that shrank while it was read ends where its bytes ended.
        left = bytesRead === 0 ? 0 : left - bytesRead;
        if (bytesRead > 0)
          pending =
            pending.length === 0
              ? block.subarray(0, bytesRead)
              : Buffer.concat([pending, block.subarray(0, bytesRead)]);
      }
      if (pending.length === 0) return;
      const cut = findCut(pending);
      yield pending.subarray(0, cut);
      pending = pending.subarray(cut);
    }
  } finally {
    await handle.close();
  }
}
