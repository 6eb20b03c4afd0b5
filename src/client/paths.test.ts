import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileInPackage, programWorkdir } from './paths.js';

describe('fileInPackage', () => {
  const root = '/data/packages/C0100001/1';

  it('places a package path under the package folder', () => {
    expect(fileInPackage(root, 'setup.sh')).toBe(join(root, 'setup.sh'));
    expect(fileInPackage(root, 'bin/app/x.dll')).toBe(join(root, 'bin/app/x.dll'));
  });

  it.each(['../evil', 'a/../../evil', '/etc/passwd', 'C:/Windows/x', 'a\\b', 'a//b', './a', '', 'a\0b'])(
    'refuses %j',
    (path) => {
      expect(() => fileInPackage(root, path)).toThrow(expect.objectContaining({ code: 'OUTPOST_BAD_PATH' }));
    },
  );
});

describe('programWorkdir', () => {
  const root = '/data/packages/C0100001/1';
  it('is the package folder by default, a relative one inside it, an absolute one as given', () => {
    expect(programWorkdir(root, null)).toBe(resolve(root));
    expect(programWorkdir(root, 'bin')).toBe(join(root, 'bin'));
    expect(programWorkdir(root, '/opt/app')).toBe('/opt/app');
    expect(() => programWorkdir(root, '../x')).toThrow(expect.objectContaining({ code: 'OUTPOST_BAD_PATH' }));
  });
});
