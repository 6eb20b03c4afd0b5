/**
 * Where Outpost's replication time goes: each step of the per-chunk pipeline that the sender and
 * the despooler run one after another, timed on its own with Outpost's own code, per 1 MiB chunk.
 *
 *   npm run build && node dist/bench/breakdown.js [--size-mib N]
 *
 * The steps (src/replication/sender.ts, src/content/store.ts, src/content/manifest.ts):
 *   sender    store.get: read the chunk and re-hash it; PUT it in 64 KiB pieces; one job-row update
 *             (a SQLite commit with synchronous=FULL) before the next chunk.
 *   receiver  store.putStream: hash, 16 awaited writes, fsync, rename, fsync of the folder.
 *   DP        install: read every chunk back and check the whole-file SHA-256 (no second copy).
 * Only one chunk is in flight at a time, so the per-chunk costs add up.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import SqliteDatabase from 'better-sqlite3';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { FileContentStore, importSource } from '../src/content/index.js';

const MiB = 1024 * 1024;

/** Runs `fn` once per item and returns the total milliseconds. */
async function timeEach<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (const item of items) await fn(item);
  return performance.now() - t0;
}

/** The same 64 KiB pieces the sender's `throttled()` yields. */
function* pieces(data: Buffer): Generator<Buffer> {
  for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
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
    const chunks = files.flatMap((f) => f.chunks.map(([sha]) => sha));
    const rows: [string, number][] = [];

    const t = await timeEach(chunks, (sha) => sender.get(sha));
    rows.push(['sender: store.get (read + SHA-256 verify)', t]);

    const datas = await Promise.all(chunks.map((sha) => sender.get(sha)));
    const receiver = new FileContentStore(join(tmp, 'receiver'));
    let i = 0;
    rows.push([
      'receiver: store.putMany, one chunk at a time (hash, write, fsync, rename, fsync dir)',
      await timeEach(datas, (d) => receiver.putMany([{ sha: chunks[i++], data: d }])),
    ]);
    // The same writes with no hash and no fsync: what is left is the cost of durability and hashing.
    let n = 0;
    rows.push([
      '  compare: the same 64 KiB writes to new files, no hash, no fsync',
      await timeEach(datas, async (d) => {
        const h = await open(join(tmp, `plain-${n++}`), 'w');
        for (const p of pieces(d)) await h.write(p);
        await h.close();
      }),
    ]);

    // One job-row update per chunk, as the sender does: WAL + synchronous=FULL, like src/db/connect.ts.
    const db = new SqliteDatabase(join(tmp, 'jobs.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('create table jobs (id text primary key, bytes_sent integer, updated_at integer)');
    db.prepare("insert into jobs values ('j', 0, 0)").run();
    const update = db.prepare("update jobs set bytes_sent = ?, updated_at = ? where id = 'j'");
    rows.push([
      'sender: job-row update (SQLite commit, synchronous=FULL)',
      await timeEach(datas, async (d) => update.run(d.length, Date.now())),
    ]);
    db.close();

    // HTTP PUT of each chunk over loopback, streamed in 64 KiB pieces, to a server that only drains it.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    app.put('/c', async (req) => {
      for await (const _ of req.body as AsyncIterable<Buffer>);
      return { ok: true };
    });
    const url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/c`;
    const put = async (d: Buffer) => {
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(d.length) };
      const res = await request(url, {
        method: 'PUT',
        headers,
        body: Readable.from(pieces(d)),
        dispatcher: agent,
      });
      await res.body.dump();
    };
    rows.push(['network: HTTP PUT on loopback (no signing, no storing)', await timeEach(datas, put)]);

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
      `${sizeMiB} MiB in ${chunks.length} chunks (avg ${(sizeMiB / chunks.length).toFixed(2)} MiB)\n`,
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
