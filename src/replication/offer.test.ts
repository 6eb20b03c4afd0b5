import { describe, expect, it } from 'vitest';
import { MAX_CHUNK } from '../content/index.js';
import { checkOfferFile, checkOfferHeader } from './offer.js';

const sha = (c: string) => c.repeat(64);
const header = { job: 'j1', id: 'C0100001', name: 'Tools', sourceVersion: 3, origin: 'C01', files: 2 };
const file = {
  path: 'bin/tool',
  size: 30,
  sha256: sha('a'),
  chunks: [[sha('b'), 10] as const, [sha('c'), 20]],
};
const line = (value: unknown) => JSON.stringify(value);

describe('offer lines', () => {
  it('reads a sound header and file line', () => {
    expect(checkOfferHeader(line(header))).toEqual(header);
    expect(checkOfferFile(line(file), 1)).toEqual(file);
    expect(checkOfferFile(line({ path: 'empty', size: 0, sha256: sha('e'), chunks: [] }), 2).size).toBe(0);
  });

  it.each([
    ['not JSON', '{"job":', /offer header is not valid JSON/],
    ['a field missing', line({ ...header, origin: undefined }), /offer header is not valid/],
    ['a bad package id', line({ ...header, id: '../x' }), /package/],
    ['a bad origin', line({ ...header, origin: 'c01!' }), /origin/],
    ['version 0', line({ ...header, sourceVersion: 0 }), /sourceVersion/],
    ['more than 200,000 files', line({ ...header, files: 200_001 }), /files/],
  ])('refuses a header with %s', (_, text, message) => {
    expect(() => checkOfferHeader(text)).toThrow(message);
  });

  it.each([
    ['a path out of the package', { ...file, path: '../../etc/passwd' }, 'OUTPOST_BAD_PATH'],
    ['an absolute path', { ...file, path: '/etc/cron.d/evil' }, 'OUTPOST_BAD_PATH'],
    ['a malformed file hash', { ...file, sha256: 'A'.repeat(64) }, 'OUTPOST_BAD_INPUT'],
    [
      'a malformed chunk hash',
      {
        ...file,
        chunks: [
          [sha('b'), 10],
          ['zz', 20],
        ],
      },
      'OUTPOST_BAD_INPUT',
    ],
    [
      'a chunk of 0 bytes',
      {
        ...file,
        size: 20,
        chunks: [
          [sha('b'), 0],
          [sha('c'), 20],
        ],
      },
      'OUTPOST_BAD_INPUT',
    ],
    [
      'a chunk larger than any chunk',
      { ...file, size: MAX_CHUNK + 1, chunks: [[sha('b'), MAX_CHUNK + 1]] },
      'OUTPOST_BAD_INPUT',
    ],
    ['chunks that do not add up', { ...file, size: 31 }, 'OUTPOST_BAD_INPUT'],
    ['a negative size', { ...file, size: -1 }, 'OUTPOST_BAD_INPUT'],
    ['an extra shape', [file], 'OUTPOST_BAD_INPUT'],
  ])('refuses a file line with %s', (_, value, code) => {
    expect(() => checkOfferFile(line(value), 7)).toThrow(expect.objectContaining({ code }));
  });

  it('names the file line it refuses and what is wrong with it', () => {
    expect(() => checkOfferFile(line({ ...file, size: 31 }), 7)).toThrow(
      "'bin/tool': its chunks add up to 30 bytes, not 31",
    );
    expect(() => checkOfferFile('{', 7)).toThrow('file 7 of the offer is not valid JSON');
  });
});
