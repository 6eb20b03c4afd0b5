import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';

/** Parses an address schedule `H-H` (local hours when sending is allowed; may wrap midnight). */
export function parseSchedule(text: string): { from: number; to: number } {
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(text);
  const from = Number(m?.[1]);
  const to = Number(m?.[2]);
  if (!m || from > 23 || to > 24 || from === to) {
    throw new OutpostError('OUTPOST_BAD_INPUT', `--schedule '${text}' is not H-H`, {
      hint: 'e.g. 20-6 to send from 20:00 to 06:00',
    });
  }
  return { from, to };
}

/** Is sending allowed at `time` under `schedule` (null: always)? */
export function inSchedule(schedule: string | null, time: number): boolean {
  if (!schedule) return true;
  const { from, to } = parseSchedule(schedule);
  const hour = new Date(time).getHours();
  return from < to ? hour >= from && hour < to : hour >= from || hour < to;
}

/**
 * A token bucket shared by every transfer on one address, so the rate limit holds for the link,
 * not per job. Bursts are capped at a quarter second of traffic.
 */
export class RateLimiter {
  private tokens = 0;
  private last = Date.now();

  constructor(private bytesPerSecond: number) {}

  setRate(bytesPerSecond: number): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  async take(bytes: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(
        this.bytesPerSecond / 4,
        this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond,
      );
      this.last = now;
      if (this.tokens >= bytes || (this.tokens >= 0 && bytes > this.bytesPerSecond / 4)) {
        this.tokens -= bytes;
        return;
      }
      if (signal.aborted) return;
      await sleep(Math.max(5, ((bytes - this.tokens) / this.bytesPerSecond) * 1000), signal);
    }
  }
}

/** Yields the buffers in pieces, no faster than the limiter (if any) allows. */
export async function* throttledAll(
  datas: readonly Buffer[],
  limiter: RateLimiter | null,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  for (const data of datas) yield* throttled(data, limiter, signal);
}

/** Yields `data` in pieces no faster than the limiter allows; whole, with no limiter. */
export async function* throttled(
  data: Buffer,
  limiter: RateLimiter | null,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  if (!limiter) {
    if (!signal.aborted) yield data;
    return;
  }
  const piece = 64 * 1024;
  for (let i = 0; i < data.length; i += piece) {
    if (limiter) await limiter.take(Math.min(piece, data.length - i), signal);
    if (signal.aborted) return;
    yield data.subarray(i, i + piece);
  }
}
