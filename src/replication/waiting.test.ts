import { describe, expect, it } from 'vitest';
import { isHeld } from './addresses.js';
import { type LinkNow, waitingReason } from './waiting.js';

const noon = new Date(2026, 0, 1, 12, 0, 0).getTime();
const open: LinkNow = { siteState: 'active', schedule: null, concurrency: 2, active: 0 };
const pending = { state: 'pending' as const, nextAttemptAt: noon };

describe('waitingReason', () => {
  it('is null for a job the sender starts on its next round, and for one not waiting at all', () => {
    expect(waitingReason(pending, open, noon)).toBeNull();
    expect(waitingReason({ ...pending, state: 'active' }, open, noon)).toBeNull();
    expect(waitingReason({ ...pending, state: 'completed' }, { ...open, schedule: '20-6' }, noon)).toBeNull();
  });

  it('names the schedule and when its window opens, in local hours', () => {
    expect(waitingReason(pending, { ...open, schedule: '20-6' }, noon)).toBe(
      'schedule 20-6, next window 20:00',
    );
    expect(waitingReason(pending, { ...open, schedule: '6-13' }, noon)).toBeNull();
  });

  it('names a retry delay, a site that is not active and a link at its concurrency, together', () => {
    const retrying = { state: 'retrying' as const, nextAttemptAt: noon + 65_000 };
    expect(
      waitingReason(retrying, { ...open, siteState: 'unreachable', concurrency: 1, active: 1 }, noon),
    ).toBe('retry at 12:01:05; site unreachable; concurrency 1 in use');
    expect(waitingReason(pending, undefined, noon)).toBe('no address to the site');
  });

  it('names a hold for a new host until its preload (a rebuild), which only the old generation passes', () => {
    expect(waitingReason(pending, { ...open, held: true }, noon)).toBe(
      'held for the new host until its preload (outpost rebuild status)',
    );
    expect(isHeld('old-gen', 'new-gen')).toBe(true);
    expect(isHeld('old-gen', 'old-gen')).toBe(false);
    expect(isHeld(null, 'new-gen')).toBe(false);
  });
});
