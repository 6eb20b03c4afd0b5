import { randomBytes } from 'node:crypto';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const TEMPORARY_NAME = /^\.[0-9a-f]{12}\.tmp$/;

/** Whether a file name is one writeFileAtomic writes before its rename: a crash may leave it behind. */
export function isAtomicTemporary(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}

/** Writes a file crash-safely: temporary name in the same folder, fsync, rename, fsync the folder. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}

/**
 * Flushes a file or folder to disk through a descriptor of its own: after writing a file through
 * another one, or to make a rename durable (the directory entry itself must reach the disk).
 */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
