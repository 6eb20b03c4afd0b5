import type { FileHandle } from 'node:fs/promises';

/**
 * A chunk opened for reading by position (see ContentStore.openChunk). Positions count from the
 * start of the chunk; the bytes are not verified.
 */
export interface ChunkReader {
  readonly size: number;
  /** Reads up to `length` bytes at `position` of the chunk into `buffer`; the count read (0 at its end). */
  read(buffer: Buffer, position: number, length: number): Promise<number>;
  close(): Promise<void>;
}

/** A reader of the `size` bytes at `offset` of an open file (a loose chunk, or one in a pack); it owns `handle`. */
export function rangeReader(handle: FileHandle, offset: number, size: number): ChunkReader {
  return {
    size,
    read: async (buffer, position, length) => {
      const want = Math.min(length, buffer.length, size - position);
      if (want <= 0) return 0;
      return (await handle.read(buffer, 0, want, offset + position)).bytesRead;
    },
    close: () => handle.close(),
  };
}
