import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** A chunk somewhere in a file, said to hash to `sha`. */
export interface ChunkAt {
  file: string;
  offset: number;
  size: number;
  sha: string;
}

/** What a worker found: the bytes when they hash to what was claimed, or why not. */
export type Verified =
  | { ok: true; chunk: ChunkAt; data: Buffer }
  | { ok: false; chunk: ChunkAt; reason: string };

// Plain CommonJS run with `eval`, so the pool works the same from the built code and from the sources
// under test. Each task reads its chunk at its offset and hashes it; the bytes go back transferred.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
parentPort.on('message', ({ id, file, offset, size, sha }) => {
  let fd;
  try {
    fd = openSync(file, 'r');
    const data = Buffer.allocUnsafeSlow(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, data, got, size - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    if (got < size) return parentPort.postMessage({ id, error: 'unreadable: the file ends ' + (size - got) + ' bytes early' });
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha) return parentPort.postMessage({ id, error: 'corrupt: its bytes hash to ' + actual.slice(0, 12) });
    parentPort.postMessage({ id, data: data.buffer }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: 'unreadable: ' + err.message });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
`;

interface Answer {
  id: number;
  data?: ArrayBuffer;
  error?: string;
}

/**
 * Verifies chunks by SHA-256 on every core: one worker thread per core reads and hashes, two tasks
 * each in flight so a worker never waits for the next. The caller gets each chunk's bytes only once
 * they matched their hash.
 */
export class VerifyPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { chunk: ChunkAt; resolve: (v: Verified) => void }>();
  private next = 0;

  constructor(readonly size = availableParallelism()) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(WORKER, { eval: true });
      w.on('message', (a: Answer) => this.answered(a));
      return w;
    });
  }

  private answered(a: Answer): void {
    const task = this.waiting.get(a.id);
    if (!task) return;
    this.waiting.delete(a.id);
    if (a.data) task.resolve({ ok: true, chunk: task.chunk, data: Buffer.from(a.data) });
    else task.resolve({ ok: false, chunk: task.chunk, reason: a.error ?? 'unreadable' });
  }

  private verify(chunk: ChunkAt): Promise<Verified> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, { chunk, resolve });
      this.workers[id % this.workers.length].postMessage({ id, ...chunk });
    });
  }

  /**
   * Verifies `chunks`, yielding each result as it is known (not in order), with at most two tasks
   * per worker in flight, so memory holds a few chunks per core whatever the number of chunks.
   */
  async *verifyAll(chunks: Iterable<ChunkAt>): AsyncGenerator<Verified> {
    const inFlight = new Map<number, Promise<[number, Verified]>>();
    let n = 0;
    const limit = this.workers.length * 2;
    for (const chunk of chunks) {
      const key = n++;
      inFlight.set(
        key,
        this.verify(chunk).then((v) => [key, v]),
      );
      if (inFlight.size >= limit) {
        const [done, v] = await Promise.race(inFlight.values());
        inFlight.delete(done);
        yield v;
      }
    }
    while (inFlight.size) {
      const [done, v] = await Promise.race(inFlight.values());
      inFlight.delete(done);
      yield v;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
