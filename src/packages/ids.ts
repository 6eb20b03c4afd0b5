import { OutpostError } from '../errors/index.js';

const PACKAGE_ID = /^[A-Z0-9]{3}[0-9A-F]{5}$/;

/** Throws unless `id` is a package id: the creating site's code and 5 upper-case hex digits. */
export function assertPackageId(id: string): string {
  if (!PACKAGE_ID.test(id)) {
    throw new OutpostError('OUTPOST_BAD_PACKAGE_ID', `package id '${id}' is not valid`, {
      hint: "a package id is the creating site's code and 5 upper-case hex digits, e.g. C0100012",
    });
  }
  return id;
}

/** The package id with sequence number `n` at `siteCode`. */
export function formatPackageId(siteCode: string, n: number): string {
  if (n < 1 || n > 0xfffff)
    throw new OutpostError('OUTPOST_BAD_INPUT', `package number ${n} is out of range`);
  return `${siteCode}${n.toString(16).toUpperCase().padStart(5, '0')}`;
}
