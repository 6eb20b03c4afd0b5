import { createHash } from 'node:crypto';
import { OutpostError } from '../errors/index.js';

/**
 * rsync's method inside one chunk. The receiver holds an older chunk at the same place in the
 * file (the basis) and describes it by a signature: a weak rolling checksum and a few bytes of a
 * strong hash for each block of it. The sender, holding the new chunk but not the basis, finds
 * those blocks at any offset of the new chunk and sends only what it did not find, as a delta:
 * "copy blocks i..j of the basis", "these literal bytes". The receiver rebuilds the chunk and
 * checks it against its SHA-256 like any other, so a false match of the short hashes costs a
 * re-send, never a wrong byte.
 */

/** The block size of a signature: 2 KiB sends about 6 KiB of signature for a chunk of 1.5 MiB. */
export const DELTA_BLOCK = 2048;

const SIG_HEADER = 4;
const SIG_ENTRY = 8;
const OP_COPY = 0;
const OP_LITERAL = 1;

const strongOf = (data: Uint8Array, start: number, length: number): number =>
  createHash('sha256')
    .update(data.subarray(start, start + length))
    .digest()
    .readUInt32BE(0);

/** rsync's weak checksum of `length` bytes at `start`: two 16-bit sums, `b` weighting earlier bytes more. */
function weakOf(data: Uint8Array, start: number, length: number): { a: number; b: number } {
  let a = 0;
  let b = 0;
  for (let i = 0; i < length; i++) {
    a += data[start + i];
    b += (length - i) * data[start + i];
  }
  return { a: a & 0xffff, b: b & 0xffff };
}

/** Both sums as one number, the key blocks are found by. */
const weakKey = (a: number, b: number) => ((b << 16) | a) >>> 0;

/**
 * The signature of `basis`: the block size, then for each whole block its weak checksum and the
 * first 4 bytes of its SHA-256 (a tail shorter than a block is left out: it is sent as literal).
 */
export function signatureOf(basis: Uint8Array, block = DELTA_BLOCK): Buffer {
  const blocks = Math.floor(basis.length / block);
  const sig = Buffer.alloc(SIG_HEADER + blocks * SIG_ENTRY);
  sig.writeUInt32BE(block, 0);
  for (let i = 0; i < blocks; i++) {
    const { a, b } = weakOf(basis, i * block, block);
    sig.writeUInt32BE(weakKey(a, b), SIG_HEADER + i * SIG_ENTRY);
    sig.writeUInt32BE(strongOf(basis, i * block, block), SIG_HEADER + i * SIG_ENTRY + 4);
  }
  return sig;
}

function readSignature(sig: Uint8Array): { block: number; weak: Map<number, number[]>; strong: Uint32Array } {
  const buf = Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength);
  if (buf.length < SIG_HEADER || (buf.length - SIG_HEADER) % SIG_ENTRY !== 0)
    throw new OutpostError('OUTPOST_BAD_INPUT', `a delta signature of ${buf.length} bytes is malformed`);
  const block = buf.readUInt32BE(0);
  if (block < 64 || block > 1024 * 1024)
    throw new OutpostError('OUTPOST_BAD_INPUT', `a delta signature's block size ${block} is out of range`);
  const count = (buf.length - SIG_HEADER) / SIG_ENTRY;
  const weak = new Map<number, number[]>();
  const strong = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const key = buf.readUInt32BE(SIG_HEADER + i * SIG_ENTRY);
    strong[i] = buf.readUInt32BE(SIG_HEADER + i * SIG_ENTRY + 4);
    const list = weak.get(key);
    if (list) list.push(i);
    else weak.set(key, [i]);
  }
  return { block, weak, strong };
}

/** Builds a delta as a list of copies (block runs of the basis) and literals (ranges of the target). */
class DeltaWriter {
  private readonly parts: Buffer[] = [];
  private run: { first: number; count: number } | null = null;
  bytes = 0;

  constructor(private readonly target: Uint8Array) {}

  copy(index: number): void {
    if (this.run && this.run.first + this.run.count === index) {
      this.run.count++;
      return;
    }
    this.endRun();
    this.run = { first: index, count: 1 };
  }

  literal(start: number, end: number): void {
    if (end <= start) return;
    this.endRun();
    const head = Buffer.alloc(5);
    head.writeUInt8(OP_LITERAL, 0);
    head.writeUInt32BE(end - start, 1);
    this.push(head, Buffer.from(this.target.subarray(start, end)));
  }

  finish(): Buffer {
    this.endRun();
    return Buffer.concat(this.parts, this.bytes);
  }

  private endRun(): void {
    if (!this.run) return;
    const op = Buffer.alloc(9);
    op.writeUInt8(OP_COPY, 0);
    op.writeUInt32BE(this.run.first, 1);
    op.writeUInt32BE(this.run.count, 5);
    this.push(op);
    this.run = null;
  }

  private push(...bufs: Buffer[]): void {
    for (const b of bufs) {
      this.parts.push(b);
      this.bytes += b.length;
    }
  }
}

/**
 * The delta that turns the basis `sig` describes into `target`: every block of the basis found in
 * the target (at any offset, by the rolling checksum) becomes a copy, the rest literal bytes.
 */
export function encodeDelta(target: Uint8Array, sig: Uint8Array): Buffer {
  const { block, weak, strong } = readSignature(sig);
  const out = new DeltaWriter(target);
  const n = target.length;
  let literalFrom = 0;
  let i = 0;
  let expected = -1;
  if (weak.size > 0 && n >= block) {
    let { a, b } = weakOf(target, 0, block);
    for (;;) {
      const candidates = weak.get(weakKey(a, b));
      let found = -1;
      if (candidates) {
        const s = strongOf(target, i, block);
        // The block after the last one matched first: runs of copies stay runs.
        if (candidates.includes(expected) && strong[expected] === s) found = expected;
        else found = candidates.find((c) => strong[c] === s) ?? -1;
      }
      if (found >= 0) {
        out.literal(literalFrom, i);
        out.copy(found);
        expected = found + 1;
        i += block;
        literalFrom = i;
        if (i + block > n) break;
        ({ a, b } = weakOf(target, i, block));
        continue;
      }
      if (i + block >= n) break;
      const leaving = target[i];
      const entering = target[i + block];
      a = (a - leaving + entering) & 0xffff;
      b = (b - block * leaving + a) & 0xffff;
      i++;
    }
  }
  out.literal(literalFrom, n);
  return out.finish();
}

/**
 * Rebuilds a chunk of `size` bytes from `basis` and a delta, refusing a delta that reads outside the
 * basis, runs past its end or does not make exactly `size` bytes. The caller still checks the result
 * against its hash.
 */
export function applyDelta(basis: Uint8Array, delta: Uint8Array, block: number, size: number): Buffer {
  const d = Buffer.from(delta.buffer, delta.byteOffset, delta.byteLength);
  const out = Buffer.alloc(size);
  let at = 0;
  let pos = 0;
  const bad = (why: string) => new OutpostError('OUTPOST_BAD_INPUT', `malformed delta: ${why}`);
  while (pos < d.length) {
    const op = d[pos];
    if (op === OP_COPY) {
      if (pos + 9 > d.length) throw bad('a copy is cut short');
      const first = d.readUInt32BE(pos + 1);
      const count = d.readUInt32BE(pos + 5);
      pos += 9;
      const start = first * block;
      const end = start + count * block;
      if (count === 0 || end > basis.length) throw bad('a copy reads outside the basis');
      if (at + (end - start) > size) throw bad(`it makes more than ${size} bytes`);
      out.set(basis.subarray(start, end), at);
      at += end - start;
    } else if (op === OP_LITERAL) {
      if (pos + 5 > d.length) throw bad('a literal is cut short');
      const length = d.readUInt32BE(pos + 1);
      pos += 5;
      if (pos + length > d.length) throw bad('a literal runs past its end');
      if (at + length > size) throw bad(`it makes more than ${size} bytes`);
      d.copy(out, at, pos, pos + length);
      at += length;
      pos += length;
    } else {
      throw bad(`unknown operation ${op}`);
    }
  }
  if (at !== size) throw bad(`it makes ${at} bytes, not ${size}`);
  return out;
}
