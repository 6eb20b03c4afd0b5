import { describe, expect, it } from 'vitest';
import { assertPackageId } from '../common/index.js';
import { formatPackageId } from './ids.js';

describe('package ids', () => {
  it('formats the site code and five upper-case hex digits', () => {
    expect(formatPackageId('C01', 1)).toBe('C0100001');
    expect(formatPackageId('C01', 0x12abc)).toBe('C0112ABC');
  });
  it('validates', () => {
    expect(assertPackageId('C0100012')).toBe('C0100012');
    for (const id of ['C010001', 'c0100012', 'C0100g12', 'C01000123', 'C0100012/..']) {
      expect(() => assertPackageId(id)).toThrow(/package id '.*' is not valid/);
    }
  });
  it('refuses numbers outside five hex digits', () => {
    expect(() => formatPackageId('C01', 0)).toThrow();
    expect(() => formatPackageId('C01', 0x100000)).toThrow();
  });
});
