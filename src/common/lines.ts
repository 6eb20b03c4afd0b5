import { OutpostError } from '../errors/index.js';

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into its lines (NDJSON), as the bytes arrive: only the line being read is
 * held. A line longer than `maxLine` bytes is refused, so a stream without newlines cannot grow
 * memory without bound. A last line without its newline is a line too; empty lines are skipped.
 * Lines are split on the newline byte, which never occurs inside a UTF-8 sequence.
 */
export async function* splitLines(
  source: AsyncIterable<Uint8Array>,
  maxLine: number,
): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (tail: Buffer): string => {
    const line = pending.length ? Buffer.concat([...pending, tail]) : tail;
    pending = [];
    pendingBytes = 0;
    return line.toString('utf8');
  };
  for await (const piece of source) {
    let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    for (let end = buf.indexOf(NEWLINE); end !== -1; end = buf.indexOf(NEWLINE)) {
      if (pendingBytes + end > maxLine) throw tooLong(maxLine);
      const line = take(buf.subarray(0, end));
      buf = buf.subarray(end + 1);
      if (line) yield line;
    }
    if (buf.length === 0) continue;
    if (pendingBytes + buf.length > maxLine) throw tooLong(maxLine);
    // A copy: the stream may reuse the memory of the piece it gave.
    pending.push(Buffer.from(buf));
    pendingBytes += buf.length;
  }
  if (pendingBytes) yield take(Buffer.alloc(0));
}

function tooLong(maxLine: number): OutpostError {
  return new OutpostError('OUTPOST_TOO_LARGE', `a line of the stream is longer than ${maxLine} bytes`);
}
