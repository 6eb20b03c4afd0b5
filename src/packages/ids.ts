import { OutpostError } from '../errors/index.js';

/** The package id with sequence number `n` at `siteCode`. */
export function formatPackageId(siteCode: string, n: number): string {
  if (n < 1 || n > 0xfffff)
    throw new OutpostError('OUTPOST_BAD_INPUT', `package number ${n} is out of range`);
  return `${siteCode}${n.toString(16).toUpperCase().padStart(5, '0')}`;
}
