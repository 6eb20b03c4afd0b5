/**
 * A token bucket that caps a byte rate: `reserve(n)` takes n bytes' worth of tokens and says how
 * long to wait before sending them. A chunk larger than the bucket goes into debt, which later
 * chunks wait out, so the average rate holds whatever the chunk sizes.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /** `bytesPerSecond` fills it; it holds at most one second's worth. */
  constructor(
    private readonly bytesPerSecond: number,
    now: number,
  ) {
    this.tokens = bytesPerSecond;
    this.last = now;
  }

  /** Takes `bytes` tokens at `now` (ms); returns the ms to wait before the bytes may go. */
  reserve(bytes: number, now: number): number {
    const elapsed = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + (elapsed * this.bytesPerSecond) / 1000);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }
}
