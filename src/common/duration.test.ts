import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('reads every unit', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1.5s')).toBe(1500);
  });
  it('refuses what is not a duration, naming it', () => {
    expect(() => parseDuration('10', '--timeout')).toThrow(/--timeout '10' is not a duration/);
    expect(() => parseDuration('5 d')).toThrow();
    expect(() => parseDuration('-5s')).toThrow();
  });
  it('formats back to the largest exact unit', () => {
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});

describe('parseSize', () => {
  it('reads units and refuses nonsense', async () => {
    const { parseSize } = await import('./size.js');
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('100')).toBe(100);
    expect(() => parseSize('lots', '--reserve')).toThrow(/--reserve 'lots' is not a size/);
  });
});
