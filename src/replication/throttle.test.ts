import { describe, expect, it } from 'vitest';
import { inSchedule, parseSchedule, RateLimiter, throttled } from './throttle.js';

describe('address schedule', () => {
  const at = (h: number) => new Date(2026, 10, 22, h, 30).getTime();
  it('allows sending inside the window only', () => {
    expect(inSchedule('8-17', at(9))).toBe(true);
    expect(inSchedule('8-17', at(17))).toBe(false);
    expect(inSchedule(null, at(3))).toBe(true);
  });
  it('wraps midnight', () => {
    expect(inSchedule('20-6', at(23))).toBe(true);
    expect(inSchedule('20-6', at(5))).toBe(true);
    expect(inSchedule('20-6', at(12))).toBe(false);
  });
  it('refuses malformed schedules', () => {
    for (const s of ['8', '25-3', '8-8', 'a-b']) expect(() => parseSchedule(s)).toThrow(/not H-H/);
  });
});

describe('rate limiter', () => {
  it('holds a stream to roughly its rate', async () => {
    const limiter = new RateLimiter(1024 * 1024);
    const started = Date.now();
    let total = 0;
    for await (const piece of throttled(Buffer.alloc(512 * 1024), limiter, new AbortController().signal))
      total += piece.length;
    expect(total).toBe(512 * 1024);
    // 512 KiB at 1 MiB/s takes about half a second; allow generous slack either way.
    expect(Date.now() - started).toBeGreaterThan(250);
  });
});
