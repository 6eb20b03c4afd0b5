import { describe, expect, it } from 'vitest';
import { TokenBucket } from './bucket.js';

describe('TokenBucket', () => {
  it('lets one second’s worth through at once, then paces to the rate', () => {
    const b = new TokenBucket(1000, 0);
    expect(b.reserve(600, 0)).toBe(0);
    expect(b.reserve(400, 0)).toBe(0);
    // Empty: 500 bytes more wait half a second.
    expect(b.reserve(500, 0)).toBe(500);
    // Half a second later the debt is paid; 100 more wait 100 ms.
    expect(b.reserve(100, 500)).toBe(100);
  });

  it('a chunk larger than the bucket goes into debt that later chunks wait out', () => {
    const b = new TokenBucket(1000, 0);
    expect(b.reserve(3000, 0)).toBe(2000);
    expect(b.reserve(1, 2000)).toBe(1);
  });

  it('never holds more than one second’s worth, however long it was idle', () => {
    const b = new TokenBucket(1000, 0);
    b.reserve(1000, 0);
    expect(b.reserve(1000, 60_000)).toBe(0);
    expect(b.reserve(1000, 60_000)).toBe(1000);
  });

  it('averages the rate over many chunks', () => {
    const b = new TokenBucket(10_000, 0);
    let now = 0;
    for (let i = 0; i < 100; i++) now += b.reserve(1500, now);
    // 150 000 bytes at 10 000/s, less the first second's tokens: 14 s.
    expect(now).toBeGreaterThanOrEqual(14_000);
    expect(now).toBeLessThanOrEqual(14_100);
  });
});
