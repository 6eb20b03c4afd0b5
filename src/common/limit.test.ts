import { describe, expect, it } from 'vitest';
import { limitConcurrency } from './limit.js';

describe('limitConcurrency', () => {
  it('never runs more than its slots at once, runs everything, in order, and survives failures', async () => {
    const limit = limitConcurrency(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const work = Array.from({ length: 20 }, (_, i) =>
      limit(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        if (i % 5 === 0) throw new Error(`task ${i}`);
        return i;
      }),
    );
    const results = await Promise.allSettled(work);
    expect(most).toBe(3);
    expect(started).toEqual([...Array(20).keys()]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(4);
    expect(results[1]).toEqual({ status: 'fulfilled', value: 1 });
    // Every slot was given back: three more run at once.
    running = 0;
    most = 0;
    await Promise.all(
      [1, 2, 3].map(() =>
        limit(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setImmediate(resolve));
          running--;
        }),
      ),
    );
    expect(most).toBe(3);
  });
});
