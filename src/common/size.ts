import { OutpostError } from '../errors/index.js';

const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses a size such as `512M`, `10G`, `1T` or a plain number of bytes. */
export function parseSize(text: string, what = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m)
    throw new OutpostError('OUTPOST_BAD_INPUT', `${what} '${text}' is not a size`, {
      hint: 'write it like 512M, 10G or 1T',
    });
  return Math.round(Number(m[1]) * UNIT[m[2].toUpperCase()]);
}

/** A byte count for people: `812 B`, `3.5 MiB`, `1.2 GiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}
