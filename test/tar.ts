import { writeFileSync } from 'node:fs';
import tar from 'tar-stream';

/** A tar entry to forge: a file unless `type` says otherwise. */
export interface ForgedEntry {
  name: string;
  data?: Buffer;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
  /** Written as a pax extended header before the entry. */
  pax?: Record<string, string>;
}

/** Writes a tar of `entries` to `path`, to forge package files no export would write. */
export async function forgeTar(path: string, entries: ForgedEntry[]): Promise<void> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  pack.on('data', (b: unknown) => parts.push(b as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries)
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        { name: e.name, type: e.type ?? 'file', linkname: e.linkname, pax: e.pax, size: e.data?.length ?? 0 },
        e.data ?? Buffer.alloc(0),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  pack.finalize();
  await ended;
  writeFileSync(path, Buffer.concat(parts));
}
