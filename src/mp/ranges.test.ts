import { describe, expect, it } from 'vitest';
import { formatRange, mostSpecific, overlaps, parseAddress, parseRange } from './ranges.js';

describe('boundary ranges', () => {
  it('reads IPv4 and IPv6 subnets and FIRST-LAST ranges, and writes them in one normal form', () => {
    expect(parseRange('10.1.0.0/16')).toMatchObject({ family: 4, text: '10.1.0.0/16' });
    expect(parseRange(' 10.1.2.3/32 ').text).toBe('10.1.2.3/32');
    expect(parseRange('0.0.0.0/0')).toMatchObject({ first: 0n, last: 0xffffffffn });
    expect(parseRange('10.1.0.10-10.1.0.99').text).toBe('10.1.0.10-10.1.0.99');
    // A range that is exactly a subnet is written as one.
    expect(parseRange('10.1.0.0-10.1.0.255').text).toBe('10.1.0.0/24');
    expect(parseRange('FD00:0:0:1::/64')).toMatchObject({ family: 6, text: 'fd00:0:0:1::/64' });
    expect(parseRange('fd00::1-fd00::ff').text).toBe('fd00::1-fd00::ff');
    expect(parseRange('2001:db8::/32').firstHex).toBe('20010db8000000000000000000000000');
    expect(parseRange('::/0').lastHex).toBe('f'.repeat(32));
    expect(formatRange(parseRange('2001:db8:0:0:1:0:0:1-2001:db8::1:0:0:1'))).toBe('2001:db8::1:0:0:1/128');
  });

  it('refuses what is not a range, with the reason', () => {
    const bad: [string, RegExp][] = [
      ['10.1.2.3/16', /host bits set/],
      ['10.1.0.0/33', /prefix length/],
      ['10.1.0.0/', /prefix length/],
      ['10.1.0.0/16/2', /prefix length/],
      ['10.1.0.300/24', /not an IPv4 or IPv6/],
      ['10.1.0.9-10.1.0.1', /starts after it ends/],
      ['10.1.0.1-fd00::1', /mixes IPv4 and IPv6/],
      ['10.1.0.1-10.1.0.2-10.1.0.3', /not FIRST-LAST/],
      ['10.1.0.1', /neither a subnet/],
      ['::ffff:10.0.0.0/104', /not an IPv4 or IPv6/],
      ['fd00::/129', /prefix length/],
      ['', /neither/],
    ];
    for (const [text, why] of bad) expect(() => parseRange(text), text).toThrow(why);
    try {
      parseRange('10.1.2.3/16');
    } catch (err) {
      expect((err as { hint?: string }).hint).toBe('did you mean 10.1.0.0/16?');
      expect((err as { code?: string }).code).toBe('OUTPOST_BAD_INPUT');
    }
  });

  it('reads a client address, an IPv4 address mapped into IPv6 counting as IPv4', () => {
    expect(parseAddress('127.0.0.5')).toMatchObject({ family: 4, text: '127.0.0.5' });
    expect(parseAddress('::ffff:10.1.2.3')).toMatchObject({ family: 4, text: '10.1.2.3' });
    expect(parseAddress('FD00::0:1')).toMatchObject({ family: 6, text: 'fd00::1' });
    expect(() => parseAddress('nope')).toThrow(/not an IPv4 or IPv6/);
  });

  it('overlaps only within a family', () => {
    expect(overlaps(parseRange('10.0.0.0/8'), parseRange('10.1.0.0/16'))).toBe(true);
    expect(overlaps(parseRange('10.1.0.0-10.1.0.9'), parseRange('10.1.0.9-10.1.0.20'))).toBe(true);
    expect(overlaps(parseRange('10.1.0.0-10.1.0.9'), parseRange('10.1.0.10-10.1.0.20'))).toBe(false);
    expect(overlaps(parseRange('0.0.0.0/0'), parseRange('::/0'))).toBe(false);
  });

  it('places an address in the most specific range that holds it; overlaps are fine', () => {
    const ranges = [
      { name: 'all', ...parseRange('10.0.0.0/8') },
      { name: 'branch', ...parseRange('10.1.0.0/16') },
      { name: 'lab', ...parseRange('10.1.7.10-10.1.7.99') },
      { name: 'v6', ...parseRange('fd00::/16') },
      { name: 'v6-lab', ...parseRange('fd00:1::/32') },
      { name: 'b-tie', ...parseRange('192.168.0.0/24') },
      { name: 'a-tie', ...parseRange('192.168.0.0-192.168.0.255') },
    ];
    const at = (a: string) => mostSpecific(ranges, parseAddress(a))?.name ?? null;
    expect(at('10.9.9.9')).toBe('all');
    expect(at('10.1.9.9')).toBe('branch');
    expect(at('10.1.7.10')).toBe('lab');
    expect(at('10.1.7.99')).toBe('lab');
    expect(at('10.1.7.100')).toBe('branch');
    expect(at('::ffff:10.1.7.50')).toBe('lab');
    expect(at('fd00:1::5')).toBe('v6-lab');
    expect(at('fd00:2::5')).toBe('v6');
    expect(at('11.0.0.1')).toBeNull();
    expect(at('fe80::1')).toBeNull();
    // The same size: the first by name, so every site decides alike.
    expect(at('192.168.0.1')).toBe('a-tie');
  });
});
