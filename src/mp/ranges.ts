import { isIPv4, isIPv6 } from 'node:net';
import { OutpostError } from '../errors/index.js';

/** An IP range: its family and its first and last addresses as numbers. */
export interface IpRange {
  family: 4 | 6;
  first: bigint;
  last: bigint;
}

/** A range as a boundary keeps it: normalised text, and its ends as 32 hex digits (comparable as text). */
export interface ParsedRange extends IpRange {
  text: string;
  firstHex: string;
  lastHex: string;
}

const BITS = { 4: 32, 6: 128 } as const;

function v4ToBig(text: string): bigint {
  return text.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

function v6ToBig(text: string): bigint {
  let address = text;
  // An IPv4 tail (`::ffff:10.0.0.1`) is two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (tail) {
    const n = v4ToBig(tail[1]);
    address = `${address.slice(0, -tail[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, rest] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups =
    rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

function formatV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

/** The shortest form of an IPv6 address (RFC 5952: lower case, the longest run of zero groups as `::`). */
function formatV6(n: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((n >> s) & 0xffffn));
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/**
 * An address as a client's request comes from it: IPv4, IPv6, or IPv4 mapped into IPv6
 * (`::ffff:10.1.2.3`, how a dual-stack listener sees an IPv4 client), which counts as IPv4.
 */
export function parseAddress(text: string): { family: 4 | 6; value: bigint; text: string } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  const plain = mapped ? mapped[1] : text;
  if (isIPv4(plain)) return { family: 4, value: v4ToBig(plain), text: plain };
  if (isIPv6(plain)) {
    const value = v6ToBig(plain);
    return { family: 6, value, text: formatV6(value) };
  }
  throw new OutpostError('OUTPOST_BAD_INPUT', `'${text}' is not an IPv4 or IPv6 address`);
}

function format(family: 4 | 6, n: bigint): string {
  return family === 4 ? formatV4(n) : formatV6(n);
}

export function toHex(n: bigint): string {
  return n.toString(16).padStart(32, '0');
}

function bad(text: string, why: string, hint?: string): OutpostError {
  return new OutpostError('OUTPOST_BAD_INPUT', `--range '${text}' ${why}`, {
    hint: hint ?? 'a subnet like 10.1.0.0/16 or fd00:1::/64, or a range like 10.1.0.1-10.1.0.254',
  });
}

function addressIn(text: string, whole: string): { family: 4 | 6; value: bigint } {
  // A mapped IPv4 address is written as IPv4 in a boundary.
  if (/^::ffff:/i.test(text) || !(isIPv4(text) || isIPv6(text)))
    throw bad(whole, `has '${text}', which is not an IPv4 or IPv6 address`);
  return parseAddress(text);
}

/** Parses a boundary's range: `CIDR` (`10.1.0.0/16`, `fd00::/64`) or `FIRST-LAST` of one family. */
export function parseRange(input: string): ParsedRange {
  const text = input.trim();
  let range: IpRange;
  if (text.includes('/')) {
    const [addr, bits, extra] = text.split('/');
    const a = addressIn(addr, text);
    const max = BITS[a.family];
    const prefix = Number(bits);
    if (extra !== undefined || !/^\d{1,3}$/.test(bits) || prefix > max)
      throw bad(text, `has a prefix length that is not 0 to ${max}`);
    const hostBits = BigInt(max - prefix);
    const mask = (1n << hostBits) - 1n;
    if ((a.value & mask) !== 0n) {
      const base = a.value & ~mask;
      throw bad(text, 'has host bits set', `did you mean ${format(a.family, base)}/${prefix}?`);
    }
    range = { family: a.family, first: a.value, last: a.value | mask };
  } else if (text.includes('-')) {
    const parts = text.split('-');
    if (parts.length !== 2) throw bad(text, 'is not FIRST-LAST');
    const a = addressIn(parts[0].trim(), text);
    const b = addressIn(parts[1].trim(), text);
    if (a.family !== b.family) throw bad(text, 'mixes IPv4 and IPv6');
    if (a.value > b.value) throw bad(text, 'starts after it ends');
    range = { family: a.family, first: a.value, last: b.value };
  } else {
    throw bad(text, 'is neither a subnet (CIDR) nor a FIRST-LAST range');
  }
  return { ...range, text: formatRange(range), firstHex: toHex(range.first), lastHex: toHex(range.last) };
}

/** A range in its normal form: a CIDR when it is one, else `FIRST-LAST`. */
export function formatRange(r: IpRange): string {
  const size = r.last - r.first + 1n;
  const bits = size.toString(2).length - 1;
  const isBlock = size === 1n << BigInt(bits) && (r.first & (size - 1n)) === 0n;
  if (isBlock) return `${format(r.family, r.first)}/${BITS[r.family] - bits}`;
  return `${format(r.family, r.first)}-${format(r.family, r.last)}`;
}

/** Whether two ranges share an address. */
export function overlaps(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/**
 * The range among `ranges` that holds `address` and is the most specific (the fewest addresses; on a
 * tie, the first by name), or null when none holds it.
 */
export function mostSpecific<T extends IpRange & { name: string }>(
  ranges: readonly T[],
  address: { family: 4 | 6; value: bigint },
): T | null {
  let best: T | null = null;
  for (const r of ranges) {
    if (r.family !== address.family || address.value < r.first || address.value > r.last) continue;
    if (
      !best ||
      r.last - r.first < best.last - best.first ||
      (r.last - r.first === best.last - best.first && r.name < best.name)
    )
      best = r;
  }
  return best;
}
