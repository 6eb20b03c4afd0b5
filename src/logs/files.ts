import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import pino from 'pino';

/** When a component's log is rotated, and how many rotated files are kept. */
export interface RotationLimits {
  /** A log file is rotated before a line would take it past this many bytes. */
  maxBytes: number;
  /** Rotated files kept: `<component>.log.1` (newest) to `<component>.log.<keep>` (oldest). */
  keep: number;
}

export const DEFAULT_ROTATION: RotationLimits = { maxBytes: 10 * 1024 * 1024, keep: 5 };

/**
 * Rotates `file`: `file.<keep>` (and any older one) is removed, `file.<n>` becomes `file.<n+1>`,
 * and `file` becomes `file.1`. A writer holding `file` open goes on writing to `file.1` until it
 * reopens `file`, so no line is lost or out of order.
 */
export function rotateFile(file: string, keep: number): void {
  for (const n of rotatedNumbers(file).filter((n) => n >= keep)) rmSync(`${file}.${n}`, { force: true });
  for (let n = keep - 1; n >= 1; n--) {
    if (existsSync(`${file}.${n}`)) renameSync(`${file}.${n}`, `${file}.${n + 1}`);
  }
  if (existsSync(file)) renameSync(file, `${file}.1`);
}

/** The numbers of `file`'s rotated files present, newest (1) first. */
function rotatedNumbers(file: string): number[] {
  const name = basename(file);
  let entries: string[];
  try {
    entries = readdirSync(dirname(file));
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.startsWith(`${name}.`) && /^[1-9]\d*$/.test(e.slice(name.length + 1)))
    .map((e) => Number(e.slice(name.length + 1)))
    .sort((a, b) => a - b);
}

/**
 * A log file that rotates by size. Writes are synchronous: the size is then exact when a rotation
 * is decided, and a server killed outright loses no line it logged.
 */
export class RotatingFile {
  private readonly dest: ReturnType<typeof pino.destination>;
  private size: number;

  constructor(
    private readonly file: string,
    private readonly limits: RotationLimits,
  ) {
    this.size = existsSync(file) ? statSync(file).size : 0;
    if (this.size >= limits.maxBytes) this.rotate();
    this.dest = pino.destination({ dest: file, sync: true, mkdir: true });
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.limits.maxBytes) {
      this.rotate();
      this.dest.reopen();
    }
    this.size += bytes;
    this.dest.write(line);
  }

  private rotate(): void {
    rotateFile(this.file, this.limits.keep);
    this.size = 0;
  }
}

/** Where a reader of a log stopped: `offset` bytes into the file with inode `file`. */
export interface LogCursor {
  offset: number;
  /**
   * The inode of the file `offset` is in; absent means the current file. It lets a follower find
   * its place after the file was rotated under it.
   */
  file?: number;
}

/** Lines read from a log, and the cursor to continue from (`next` bytes into file `file`). */
export interface LogRead {
  lines: string[];
  next: number;
  file?: number;
}

/** At most this much of a log is returned by one read: a follower far behind catches up in steps. */
const READ_LIMIT = 1024 * 1024;

interface OpenLog {
  handle: FileHandle;
  ino: number;
  size: number;
}

/**
 * Opens a log's files, oldest first. The current file is opened first and older ones after it, so
 * a rotation in between shows up as one file seen twice (dropped by inode), never as one missed.
 */
async function openLogFiles(file: string): Promise<OpenLog[]> {
  const names = [file, ...rotatedNumbers(file).map((n) => `${file}.${n}`)];
  const opened: OpenLog[] = [];
  for (const name of names) {
    const handle = await open(name, 'r').catch(() => null);
    if (!handle) continue;
    const { ino, size } = await handle.stat();
    if (opened.some((o) => o.ino === ino)) await handle.close();
    else opened.push({ handle, ino, size });
  }
  return opened.reverse();
}

/**
 * Reads the log `file` and its rotated files as one stream, oldest first: from `from` when given,
 * else its last `tailBytes`. Returns complete lines and the cursor to continue from.
 */
export async function readLogFiles(
  file: string,
  from: LogCursor | undefined,
  tailBytes: number,
): Promise<LogRead> {
  const files = await openLogFiles(file);
  try {
    if (files.length === 0) return { lines: [], next: 0 };
    let { index, offset, skipFirstLine } = from ? resume(files, from) : tail(files, tailBytes);
    const lines: string[] = [];
    let budget = READ_LIMIT;
    let next = { file: files[index].ino, offset };
    for (; index < files.length && budget > 0; index++, offset = 0, skipFirstLine = false) {
      const f = files[index];
      const length = Math.min(f.size - offset, budget);
      const buf = Buffer.alloc(length);
      await f.handle.read(buf, 0, length, offset);
      const text = buf.toString('utf8');
      // A partial last line is still being written (current file) or was cut by the budget.
      const end = text.lastIndexOf('\n');
      const used = end < 0 ? 0 : Buffer.byteLength(text.slice(0, end + 1));
      if (end >= 0) {
        const got = text.slice(0, end).split('\n');
        lines.push(...got.slice(skipFirstLine ? 1 : 0).filter((l) => l.length > 0));
        budget -= used;
      }
      next = { file: f.ino, offset: offset + used };
      if (offset + used < f.size && (index === files.length - 1 || length < f.size - offset)) break;
      // A rotated file read to its end: the reader goes on at the start of the next one.
      if (index + 1 < files.length) next = { file: files[index + 1].ino, offset: 0 };
    }
    return { lines, next: next.offset, file: next.file };
  } finally {
    await Promise.all(files.map((f) => f.handle.close()));
  }
}

/** Where a cursor points among the open files, oldest first. */
function resume(
  files: OpenLog[],
  from: LogCursor,
): { index: number; offset: number; skipFirstLine: boolean } {
  const last = files.length - 1;
  if (from.file === undefined) {
    // An offset past the end of the current file is from before a rotation: read it all.
    return { index: last, offset: from.offset <= files[last].size ? from.offset : 0, skipFirstLine: false };
  }
  const index = files.findIndex((f) => f.ino === from.file);
  // The file was rotated out since: everything kept is newer than the cursor.
  if (index < 0) return { index: 0, offset: 0, skipFirstLine: false };
  return { index, offset: Math.min(from.offset, files[index].size), skipFirstLine: false };
}

/** The start of the last `tailBytes` of the files, at a line boundary. */
function tail(
  files: OpenLog[],
  tailBytes: number,
): { index: number; offset: number; skipFirstLine: boolean } {
  let index = files.length - 1;
  let wanted = tailBytes;
  while (index > 0 && files[index].size < wanted) {
    wanted -= files[index].size;
    index--;
  }
  const offset = Math.max(0, files[index].size - wanted);
  return { index, offset, skipFirstLine: offset > 0 };
}

/** The path of a component's current log file in `logDir`. */
export function logFile(logDir: string, component: string): string {
  return join(logDir, `${component}.log`);
}
