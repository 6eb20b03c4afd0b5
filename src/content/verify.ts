import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** A chunk somewhere in a file, said to hash to `sha`. */
export interface ChunkAt {
  file: string;
  offset: number;
  size: number;
  sha: string;
}

/**
 * A chunk whose bytes are already in memory (fetched from elsewhere), said to hash to `sha`. Its
 * `data` must own its whole ArrayBuffer: the buffer moves to the worker and comes back in `Verified`.
 */
export interface ChunkBytes {
  sha: string;
  size: number;
  data: Buffer;
}

/** What a worker found: the bytes when they hash to what was claimed, or why not. */
export type Verified<T extends ChunkAt | ChunkBytes = ChunkAt> =
  | { ok: true; chunk: T; data: Buffer }
  | { ok: false; chunk: T; reason: string };

// Plain CommonJS run with `eval`, so the pool works the same from the built code and from the sources
// under test. Each task reads its chunk at its offset (or is given its bytes) and hashes it; the
// bytes go back transferred.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
parentPort.on('message', (task) => {
  const started = performance.now();
  const answer = work(task);
  answer.busy = performance.now() - started;
  parentPort.postMessage(answer, answer.data ? [answer.data] : []);
});
function work({ id, file, offset, size, sha, bytes }) {
  if (bytes) {
    const actual = createHash('sha256').update(new Uint8Array(bytes)).digest('hex');
    if (actual !== sha) return { id, error: 'corrupt: its bytes hash to ' + actual.slice(0, 12) };
    return { id, data: bytes };
  }
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
    if (got < size) return { id, error: 'unreadable: the file ends ' + (size - got) + ' bytes early' };
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha) return { id, error: 'corrupt: its bytes hash to ' + actual.slice(0, 12) };
    return { id, data: data.buffer };
  } catch (err) {
    return { id, error: 'unreadable: ' + err.message };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
`;

interface Answer {
  id: number;
  data?: ArrayBuffer;
  error?: string;
  /** Milliseconds the worker spent on the task (reading and hashing). */
  busy: number;
}

/** The bytes of `data` as an ArrayBuffer of their own, to move to a worker: copied only if shared. */
function ownBuffer(data: Buffer): ArrayBuffer {
  const b = data.buffer;
  if (b instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === b.byteLength) return b;
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  return copy.buffer;
}

/**
 * Verifies chunks by SHA-256 on every core: one worker thread per core reads and hashes, two tasks
 * each in flight so a worker never waits for the next. The caller gets each chunk's bytes only once
 * they matched their hash.
 */
export class VerifyPool {
  private started: Worker[] | null = null;
  private readonly waiting = new Map<number, (a: Answer) => void>();
  private next = 0;
  /** Milliseconds the workers have spent on tasks, summed over them, since the pool was made. */
  busyMs = 0;

  constructor(readonly size = availableParallelism()) {}

  /** How many worker threads are running (none before the first task). */
  get running(): number {
    return this.started?.length ?? 0;
  }

  /**
   * The workers, started on first use (a site that never receives content never pays for them).
   * They hold the process open only while a task is in flight.
   */
  private get workers(): Worker[] {
    if (!this.started)
      this.started = Array.from({ length: this.size }, () => {
        const w = new Worker(WORKER, { eval: true });
        w.on('message', (a: Answer) => this.answered(a));
        w.unref();
        return w;
      });
    return this.started;
  }

  private answered(a: Answer): void {
    this.busyMs += a.busy;
    const resolve = this.waiting.get(a.id);
    if (!resolve) return;
    this.waiting.delete(a.id);
    if (this.waiting.size === 0) for (const w of this.workers) w.unref();
    resolve(a);
  }

  private async verify<T extends ChunkAt | ChunkBytes>(chunk: T): Promise<Verified<T>> {
    const id = this.next++;
    const worker = this.workers[id % this.workers.length];
    if (this.waiting.size === 0) for (const w of this.workers) w.ref();
    const a = await new Promise<Answer>((resolve) => {
      this.waiting.set(id, resolve);
      if ('data' in chunk) {
        // The bytes move to the worker (the chunk's own Buffer is left empty) and come back in the answer.
        const bytes = ownBuffer(chunk.data);
        worker.postMessage({ id, sha: chunk.sha, bytes }, [bytes]);
      } else
        worker.postMessage({ id, file: chunk.file, offset: chunk.offset, size: chunk.size, sha: chunk.sha });
    });
    if (a.data) return { ok: true, chunk, data: Buffer.from(a.data) };
    return { ok: false, chunk, reason: a.error ?? 'unreadable' };
  }

  /**
   * Verifies `chunks`, yielding each result as soon as it is known (not in order), with at most two
   * tasks per worker in flight, so memory holds a few chunks per core whatever the number of chunks.
   * A slow source (the network) does not hold back results already known: the next chunk is awaited
   * alongside the tasks in flight.
   */
  async *verifyAll<T extends ChunkAt | ChunkBytes>(
    chunks: Iterable<T> | AsyncIterable<T>,
  ): AsyncGenerator<Verified<T>> {
    const source =
      Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]();
    type Step = { key: number; verified: Verified<T> } | { key: -1; next: IteratorResult<T> };
    const inFlight = new Map<number, Promise<Step>>();
    const limit = this.size * 2;
    let pulling: Promise<Step> | null = null;
    let exhausted = false;
    let n = 0;
    while (!exhausted || inFlight.size) {
      if (!exhausted && !pulling && inFlight.size < limit)
        pulling = Promise.resolve(source.next()).then((next) => ({ key: -1, next }));
      // The source first: a ready chunk keeps the workers busy before a result is handed on.
      const step = await Promise.race(pulling ? [pulling, ...inFlight.values()] : inFlight.values());
      if ('next' in step) {
        pulling = null;
        if (step.next.done) exhausted = true;
        else {
          const key = n++;
          inFlight.set(
            key,
            this.verify(step.next.value).then((verified) => ({ key, verified })),
          );
        }
        continue;
      }
      inFlight.delete(step.key);
      yield step.verified;
    }
  }

  async close(): Promise<void> {
    const workers = this.started ?? [];
    this.started = null;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

let shared: VerifyPool | null = null;

/**
 * The process's own pool for hashing what arrives from the network (the despooler's blocks), shared
 * by every transfer so the process never runs more hashing threads than it has cores. Never closed:
 * its workers are idle threads that do not hold the process open.
 */
export function hashPool(): VerifyPool {
  shared ??= new VerifyPool();
  return shared;
}
