import { describe, expect, it } from 'vitest';
import { assertPackagePath } from './paths.js';

describe('package paths', () => {
  it('accepts relative, normalised paths', () => {
    for (const p of ['setup.exe', 'bin/tool', 'a b/c.d/e']) expect(assertPackagePath(p)).toBe(p);
  });
  it.each([
    ['../etc/passwd', "contains '..'"],
    ['a/../../b', "contains '..'"],
    ['/etc/passwd', 'absolute'],
    ['C:/Windows', 'absolute'],
    ['a\\b', 'backslash'],
    ['a//b', 'not normalised'],
    ['./a', 'not normalised'],
    ['a/', 'not normalised'],
    ['', 'empty'],
    ['a\0b', 'NUL'],
  ])('refuses %j (%s)', (path, why) => {
    expect(() => assertPackagePath(path)).toThrow(why);
  });
});
