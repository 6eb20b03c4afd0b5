import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../core/index.js';
import { type Rejection, RejectionTally } from './rejections.js';

describe('refused site-to-site requests', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function tally() {
    const metrics = createMetrics();
    const posted: { text: string; subject: string | null }[] = [];
    const log = { warn: vi.fn(), error: vi.fn() };
    const t = new RejectionTally({
      metrics,
      log,
      intervalMs: 60_000,
      post: async (text, subject) => {
        posted.push({ text, subject });
      },
    });
    return { t, metrics, posted, log };
  }

  const unsigned: Rejection = {
    address: '127.0.0.1',
    claimed: 'S04',
    peer: null,
    reason: 'no-signature',
    detail: 'site-to-site request is not signed',
    url: '/s2s/v1/heartbeat',
  };

  it('counts every one, logs a sample, and posts one message per source and reason per interval', async () => {
    const { t, metrics, posted, log } = tally();
    for (let i = 0; i < 500; i++) t.record(unsigned);
    t.record({ ...unsigned, address: '10.0.0.9', claimed: null });
    t.record({ ...unsigned, claimed: 'S02', peer: 'S02', reason: 'wrong-generation' });
    expect(posted).toEqual([]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(posted).toEqual([
      {
        text: 'rejected 500 requests from 127.0.0.1 claiming S04 in the last minute: no signature',
        subject: null,
      },
      { text: 'rejected 1 request from 10.0.0.9 in the last minute: no signature', subject: null },
      {
        text: 'rejected 1 request from 127.0.0.1 claiming S02 in the last minute: signed by an old generation',
        subject: 'S02',
      },
    ]);
    const counted = await metrics.rejected.get();
    expect(counted.values.map((v) => [v.labels, v.value])).toEqual([
      [{ reason: 'no-signature', peer: 'unknown' }, 501],
      [{ reason: 'wrong-generation', peer: 'S02' }, 1],
    ]);
    // The first of each tally and every hundredth after it.
    expect(log.warn).toHaveBeenCalledTimes(5 + 1 + 1 + 1);

    // A new interval starts with the next refusal, not before.
    t.record(unsigned);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(posted).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(posted.at(-1)?.text).toBe(
      'rejected 1 request from 127.0.0.1 claiming S04 in the last minute: no signature',
    );
  });

  it('reports what it has counted when the server stops', async () => {
    const { t, posted } = tally();
    t.record(unsigned);
    t.record(unsigned);
    await t.flush();
    expect(posted.map((p) => p.text)).toEqual([
      'rejected 2 requests from 127.0.0.1 claiming S04 in the last minute: no signature',
    ]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(posted).toHaveLength(1);
  });

  it('tells at most a thousand sources apart in an interval and reports the rest together', async () => {
    const { t, posted } = tally();
    for (let i = 0; i < 1005; i++)
      t.record({ ...unsigned, address: `10.0.${i >> 8}.${i & 255}`, claimed: null });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(posted).toHaveLength(1001);
    expect(posted.at(-1)?.text).toBe(
      'rejected 5 requests from other addresses in the last minute: no signature',
    );
  });
});
