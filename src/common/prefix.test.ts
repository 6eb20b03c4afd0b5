import { describe, expect, it } from 'vitest';
import { assertIdPrefix, oneMatch } from './prefix.js';

describe('id prefixes', () => {
  it('accepts hex and dashes, at least 4, in any case; refuses the rest', () => {
    expect(assertIdPrefix('274F5A34', 'job')).toBe('274f5a34');
    expect(() => assertIdPrefix('27', 'job')).toThrow(/not a job id/);
    expect(() => assertIdPrefix('27%a', 'job')).toThrow(/not a job id/);
  });

  it('names the one match, refuses none and more than one', () => {
    expect(oneMatch('ab12', ['ab12-x', 'ab12-x'], 'job')).toBe('ab12-x');
    expect(() => oneMatch('ab12', [], 'job', ' to S02')).toThrow(
      'no job to S02 has an id starting with ab12',
    );
    expect(() => oneMatch('ab12', ['ab12-x', 'ab12-y'], 'job')).toThrow(/ambiguous/);
  });
});
