import { describe, expect, it } from 'vitest';
import { assertSiteCode, isSiteCode, parseDpName } from '../common/index.js';
import { assertSiteType, isJoinToken, newJoinToken, parseJoinToken } from './codes.js';

describe('site codes', () => {
  it('accepts three upper-case letters or digits', () => {
    for (const code of ['C01', 'S02', 'ABC', '999']) expect(assertSiteCode(code)).toBe(code);
  });
  it('refuses anything else with the reason', () => {
    for (const code of ['c01', 'C1', 'C001', 'C-1', '', 'C0 ', 'ÄB1']) {
      expect(() => assertSiteCode(code)).toThrow(/site code '.*' is not valid/);
    }
  });
  it('answers whether a text is a site code without throwing', () => {
    expect(isSiteCode('S02')).toBe(true);
    expect(isSiteCode('s02')).toBe(false);
  });
  it('splits a join token into its site code and secret', () => {
    const secret = 'Ab3_-'.repeat(5);
    expect(isJoinToken(`S02.${secret}`)).toBe(true);
    expect(parseJoinToken(`S02.${secret}`)).toEqual({ code: 'S02', secret });
    for (const token of ['S02', `s02.${secret}`, 'S02.short', `S02.${secret}.x`, `S02.${secret}=`]) {
      expect(isJoinToken(token)).toBe(false);
      expect(() => parseJoinToken(token)).toThrow(
        expect.objectContaining({ code: 'OUTPOST_JOIN_TOKEN_INVALID' }),
      );
    }
  });
  it('makes new join tokens that parse back to their site, each with its own secret', () => {
    const a = newJoinToken('S02');
    expect(parseJoinToken(a).code).toBe('S02');
    expect(parseJoinToken(newJoinToken('S02')).secret).not.toBe(parseJoinToken(a).secret);
  });
  it('knows the site types', () => {
    expect(assertSiteType('secondary')).toBe('secondary');
    expect(() => assertSiteType('tertiary')).toThrow(/site type 'tertiary'/);
  });
  it('parses default and named DP names, refusing malformed ones', () => {
    expect(parseDpName('S02')).toEqual({ site: 'S02', dp: 'S02', name: null });
    expect(parseDpName('S02/EAST-1')).toEqual({ site: 'S02', dp: 'S02/EAST-1', name: 'EAST-1' });
    for (const bad of ['s02', 'S02/a/b', 'S02/', 'S02/a b', 'S02/..', `S02/${'x'.repeat(33)}`, '/lab'])
      expect(() => parseDpName(bad), bad).toThrow(/not valid/);
  });
});
