import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { chunkFile, MAX_CHUNK, MIN_CHUNK } from './chunker.js';

async function chunksOfFile(data: Buffer): Promise<string[]> {
  const dir = tempDir('chunk');
  writeFileSync(join(dir, 'f'), data);
  const out: string[] = [];
  for await (const c of chunkFile(join(dir, 'f'))) {
    expect(c.length).toBeLessThanOrEqual(MAX_CHUNK);
    out.push(`${createHash('sha256').update(c).digest('hex')}:${c.length}`);
  }
  return out;
}

describe('content-defined chunking', () => {
  it('reassembles to the input and respects the size bounds', async () => {
    const data = randomBytes(9 * 1024 * 1024 + 17);
    const chunks = await chunksOfFile(data);
    const sizes = chunks.map((c) => Number(c.split(':')[1]));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(data.length);
    for (const s of sizes.slice(0, -1)) expect(s).toBeGreaterThanOrEqual(MIN_CHUNK);
    expect(chunks.length).toBeGreaterThan(2);
  });

  it('a small file is one chunk, an empty file none', async () => {
    expect(await chunksOfFile(Buffer.from('hello'))).toHaveLength(1);
    expect(await chunksOfFile(Buffer.alloc(0))).toHaveLength(0);
  });

  it('an insertion in the middle changes only the chunks around it', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const edited = Buffer.concat([
      data.subarray(0, 8_000_000),
      Buffer.from('inserted bytes'),
      data.subarray(8_000_000),
    ]);
    const before = new Set(await chunksOfFile(data));
    const after = await chunksOfFile(edited);
    const changed = after.filter((c) => !before.has(c));
    expect(changed.length).toBeLessThanOrEqual(2);
    expect(after.length - changed.length).toBeGreaterThan(before.size / 2);
  });
});
