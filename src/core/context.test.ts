import { describe, expect, it } from 'vitest';
import type { Loggers } from '../logs/index.js';
import { runLoop, Wake } from './context.js';

describe('Wake', () => {
  it('a nudge that came while nobody waited ends the next wait at once', async () => {
    const wake = new Wake();
    wake.notify('sender');
    // An hour-long wait that returns proves the pending nudge was kept.
    await wake.wait('sender', 3_600_000, new AbortController().signal);
  });

  it('a nudge ends a wait in progress, and only on its own topic', async () => {
    const wake = new Wake();
    const stop = new AbortController();
    let senderDone = false;
    const sender = wake.wait('sender', 3_600_000, stop.signal).then(() => {
      senderDone = true;
    });
    const distmgr = wake.wait('distmgr', 3_600_000, stop.signal);
    wake.notify('sender');
    await sender;
    expect(senderDone).toBe(true);
    // distmgr is still waiting; the stop signal ends it.
    stop.abort();
    await distmgr;
  });
});

describe('runLoop', () => {
  it('keeps going after a failing round and logs it', async () => {
    const errors: string[] = [];
    const log = (() => ({ error: (_: unknown, text: string) => errors.push(text) })) as unknown as Loggers;
    const wake = new Wake();
    const stop = new AbortController();
    let rounds = 0;
    await runLoop({ log, wake }, 'distmgr', 'distmgr', 3_600_000, stop.signal, async () => {
      rounds++;
      if (rounds === 1) {
        wake.notify('distmgr');
        throw new Error('disk on fire');
      }
      stop.abort();
    });
    expect(rounds).toBe(2);
    expect(errors).toEqual(['distmgr round failed: disk on fire']);
  });
});
