import { describe, expect, it } from 'vitest';
import { OutputTail } from './tail.js';

describe('OutputTail', () => {
  it('keeps everything under the limit', () => {
    const t = new OutputTail(10);
    t.push('abc');
    t.push('def');
    expect(t.toString()).toBe('abcdef');
  });

  it('keeps the last characters of a long output, across chunks', () => {
    const t = new OutputTail(4096);
    for (let i = 0; i < 1000; i++) t.push(`line ${i}\n`);
    const s = t.toString();
    expect(s).toHaveLength(4096);
    expect(s.endsWith('line 999\n')).toBe(true);
    expect(s).not.toContain('line 1\n');
  });

  it('one chunk longer than the limit keeps its end', () => {
    const t = new OutputTail(3);
    t.push('abcdefgh');
    expect(t.toString()).toBe('fgh');
  });
});
