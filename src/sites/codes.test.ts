import { describe, expect, it } from 'vitest';
import { assertSiteCode, assertSiteType, parseDpName } from './codes.js';

describe('site codes', () => {
  it('accepts three upper-case letters or digits', () => {
    for (const code of ['C01', 'S02', 'ABC', '999']) expect(assertSiteCode(code)).toBe(code);
  });
  it('refuses anything else with the reason', () => {
    for (const code of ['c01', 'C1', 'C001', 'C-1', '', 'C0 ', 'ÄB1']) {
      expect(() => assertSiteCode(code)).toThrow(/site code '.*' is not valid/);
    }
  });
  it('knows the site types', () => {
    expect(assertSiteType('secondary')).toBe('secondary');
    expect(() => assertSiteType('tertiary')).toThrow(/site type 'tertiary'/);
  });
  it('parses DP names and refuses named DPs honestly', () => {
    expect(parseDpName('S02')).toEqual({ site: 'S02', dp: 'S02' });
    expect(() => parseDpName('S02/EAST')).toThrow(/not supported yet/);
    expect(() => parseDpName('s02')).toThrow(/not valid/);
    expect(() => parseDpName('S02/a/b')).toThrow(/not valid/);
  });
});
