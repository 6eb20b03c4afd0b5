import { describe, expect, it } from 'vitest';
import { splitLines } from './lines.js';

async function* pieces(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function all(source: AsyncIterable<string>): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of source) lines.push(line);
  return lines;
}

describe('splitLines', () => {
  it('yields lines split anywhere across pieces, skipping empty ones, with a last unterminated line', async () => {
    const lines = await all(splitLines(pieces('{"a":', '1}\n{"b"', ':2}\n\n', '{"c":3}\n{"d":4}'), 100));
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}']);
  });

  it('keeps a UTF-8 character split between pieces whole', async () => {
    const bytes = Buffer.from('"päth/ünïcode"\n');
    const lines = await all(splitLines(pieces(bytes.subarray(0, 3), bytes.subarray(3)), 100));
    expect(lines).toEqual(['"päth/ünïcode"']);
  });

  it('refuses a line longer than its bound, even before its newline arrives', async () => {
    await expect(all(splitLines(pieces('x'.repeat(11), '\n'), 10))).rejects.toMatchObject({
      code: 'OUTPOST_TOO_LARGE',
    });
    await expect(all(splitLines(pieces('ok\n', 'x'.repeat(6), 'x'.repeat(6)), 10))).rejects.toMatchObject({
      code: 'OUTPOST_TOO_LARGE',
    });
    expect(await all(splitLines(pieces('x'.repeat(10), '\n'), 10))).toEqual(['x'.repeat(10)]);
  });
});
