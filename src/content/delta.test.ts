import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applyDelta, DELTA_BLOCK, encodeDelta, signatureOf } from './delta.js';

const roundTrip = (basis: Buffer, target: Buffer, block = DELTA_BLOCK) => {
  const delta = encodeDelta(target, signatureOf(basis, block));
  expect(applyDelta(basis, delta, block, target.length).equals(target)).toBe(true);
  return delta;
};

describe('delta against a basis chunk', () => {
  const basis = randomBytes(1536 * 1024);

  it('an unchanged chunk is a few copy operations', () => {
    expect(roundTrip(basis, basis).length).toBeLessThan(64);
  });

  it('scattered changes in place cost about what changed', () => {
    const target = Buffer.from(basis);
    for (const at of [10_000, 400_000, 900_001, 1_500_000]) randomBytes(4096).copy(target, at);
    const delta = roundTrip(basis, target);
    // Each 4 KiB change touches at most three blocks of 2 KiB.
    expect(delta.length).toBeLessThan(4 * 3 * DELTA_BLOCK + 200);
    expect(delta.length).toBeGreaterThan(4 * 4096);
  });

  it('an insertion and a deletion shift the rest, which is still found', () => {
    const target = Buffer.concat([
      basis.subarray(0, 300_000),
      randomBytes(777),
      basis.subarray(300_000, 800_000),
      basis.subarray(812_345),
    ]);
    expect(roundTrip(basis, target).length).toBeLessThan(777 + 4 * DELTA_BLOCK + 200);
  });

  it('content with nothing in common is all literal, and short inputs work', () => {
    const other = randomBytes(100_000);
    expect(roundTrip(basis, other).length).toBeLessThan(other.length + 16);
    roundTrip(basis, Buffer.alloc(0));
    roundTrip(basis, randomBytes(100));
    roundTrip(randomBytes(100), randomBytes(5000));
    roundTrip(Buffer.alloc(0), randomBytes(5000));
    // Repetitive content: many equal blocks.
    roundTrip(
      Buffer.alloc(64 * 1024),
      Buffer.concat([Buffer.alloc(30_000), randomBytes(10), Buffer.alloc(9000)]),
    );
  });

  it('a delta that reads outside the basis or makes the wrong size is refused', () => {
    const delta = encodeDelta(basis, signatureOf(basis));
    expect(() => applyDelta(basis.subarray(0, 1000), delta, DELTA_BLOCK, basis.length)).toThrow(
      /outside the basis/,
    );
    expect(() => applyDelta(basis, delta, DELTA_BLOCK, basis.length - 1)).toThrow(/more than/);
    expect(() => applyDelta(basis, delta, DELTA_BLOCK, basis.length + 1)).toThrow(/not/);
    expect(() => applyDelta(basis, Buffer.from([1, 0, 0, 0, 9, 1]), DELTA_BLOCK, 9)).toThrow(/past its end/);
    expect(() => applyDelta(basis, Buffer.from([7]), DELTA_BLOCK, 0)).toThrow(/unknown operation/);
    expect(() => encodeDelta(basis, Buffer.alloc(7))).toThrow(/malformed/);
  });
});
