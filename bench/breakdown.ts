/**
 * Where Outpost's replication time goes: each step of the pipeline that the sender and the
 * despooler run for a package, timed on its own with Outpost's own code.
 *
 *   npm run build && node dist/bench/breakdown.js [--size-mib N]
 *
 * The steps (src/replication/sender.ts, src/replication/despooler.ts, src/content/store.ts,
 * src/dp/install.ts), per transfer block of chunks (up to TRANSFER_BLOCK bytes):
 *   sender    store.read: read the block's chunks without re-hashing them (the child checks each).
 *   network   one PUT per block, its chunks back to back in one body.
 *   receiver  store.putMany: hash and write each chunk as it arrives, then sync all of them, rename
 *             them into place and fsync their folders once for the block.
 *   DP        install: read every chunk back and check the whole-file SHA-256 (no second copy).
 * The sender reads the next block while one is on the wire, and writes the job's progress at most
 * twice a second, so those costs mostly hide; receiving and writing overlap inside putMany.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { FileContentStore, importSource } from '../src/content/index.js';
import { TRANSFER_BLOCK } from '../src/s2s/index.js';

const MiB = 1024 * 1024;

/** Runs `fn` once per item and returns the total milliseconds. */
async function timeEach<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (const item of items) await fn(item);
  return performance.now() - t0;
}

/** Chunks grouped into transfer blocks as the sender groups them. */
function inBlocks<T extends { size: number }>(chunks: readonly T[]): T[][] {
  const blocks: T[][] = [];
  let bytes = 0;
  for (const c of chunks) {
    const last = blocks.at(-1);
    if (last && bytes + c.size <= TRANSFER_BLOCK) {
      last.push(c);
      bytes += c.size;
    } else {
      blocks.push([c]);
      bytes = c.size;
    }
  }
  return blocks;
}

/** Measures every step over `sizeMiB` of random data and prints ms per MiB and the MB/s each alone allows. */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '256' } } });
  const sizeMiB = Number(values['size-mib']);
  const tmp = await mkdtemp(join(tmpdir(), 'outpost-breakdown-'));
  const app = Fastify({ bodyLimit: 8 * MiB });
  const agent = new Agent({ connections: 16 });
  try {
    const src = join(tmp, 'src');
    await mkdir(src);
    const handle = await open(join(src, 'big.bin'), 'w');
    const block = Buffer.allocUnsafe(8 * MiB);
    for (let left = sizeMiB * MiB; left > 0; left -= block.length) {
      await handle.write(randomFillSync(block).subarray(0, Math.min(left, block.length)));
    }
    await handle.sync();
    await handle.close();

    const sender = new FileContentStore(join(tmp, 'sender'));
    const files = await importSource(src, sender);
    const chunks = files.flatMap((f) => f.chunks.map(([sha, size]) => ({ sha, size })));
    const blocks = inBlocks(chunks);
    const rows: [string, number][] = [];

    rows.push([
      'sender: store.read of each block (no verify)',
      await timeEach(blocks, (block) => Promise.all(block.map((c) => sender.read(c.sha)))),
    ]);

    const datas = await Promise.all(blocks.map((block) => Promise.all(block.map((c) => sender.read(c.sha)))));
    const receiver = new FileContentStore(join(tmp, 'receiver'));
    let i = 0;
    rows.push([
      'receiver: store.putMany per block (hash, write, one sync, rename, fsync dirs)',
      await timeEach(datas, (d) => {
        const block = blocks[i++];
        return receiver.putMany(d.map((data, k) => ({ sha: block[k].sha, data })));
      }),
    ]);
    // The same writes with no hash and no fsync: what is left is the cost of durability and hashing.
    let n = 0;
    rows.push([
      '  compare: the same chunk files written whole, no hash, no fsync',
      await timeEach(datas, async (d) => {
        for (const data of d) {
          const h = await open(join(tmp, `plain-${n++}`), 'w');
          await h.writeFile(data);
          await h.close();
        }
      }),
    ]);

    // HTTP PUT of each block over loopback, its chunks back to back, to a server that only drains it.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    app.put('/c', async (req) => {
      for await (const _ of req.body as AsyncIterable<Buffer>);
      return { ok: true };
    });
    const url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/c`;
    const put = async (d: Buffer[]) => {
      const length = d.reduce((sum, data) => sum + data.length, 0);
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(length) };
      const res = await request(url, { method: 'PUT', headers, body: Readable.from(d), dispatcher: agent });
      await res.body.dump();
    };
    rows.push([
      'network: HTTP PUT of each block on loopback (no signing, no storing)',
      await timeEach(datas, put),
    ]);

    // What installOnDp does: read every chunk back and check each whole file's SHA-256.
    const t0 = performance.now();
    for (const file of files) {
      const hash = createHash('sha256');
      for (const [sha] of file.chunks) hash.update(await receiver.read(sha));
      if (hash.digest('hex') !== file.sha256) throw new Error(`${file.path} does not verify`);
    }
    rows.push(['DP install: read chunks back, whole-file SHA-256', performance.now() - t0]);

    const mb = (sizeMiB * MiB) / 1e6;
    console.log(
      `${sizeMiB} MiB in ${chunks.length} chunks (avg ${(sizeMiB / chunks.length).toFixed(2)} MiB), ${blocks.length} blocks\n`,
    );
    console.log('| step | ms per MiB | MB/s if it ran alone |\n| --- | ---: | ---: |');
    for (const [name, ms] of rows)
      console.log(`| ${name} | ${(ms / sizeMiB).toFixed(2)} | ${(mb / (ms / 1000)).toFixed(0)} |`);
  } finally {
    await app.close();
    await agent.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
