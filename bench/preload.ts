/**
 * Preload verify throughput: the chunks of 1 GiB of package files checked by SHA-256 on every core
 * (the worker-thread pool `content preload` uses), against `openssl dgst -sha256` over the same
 * files in the same run, one openssl per core. Run: npm run build && node dist/bench/preload.js
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexPackageFile, type ManifestFile, VerifyPool, writePackageFile } from '../src/content/index.js';
import { machineInfo, run, syncDisks } from './tools.js';

const MiB = 1024 * 1024;
const FILES = 4;
const CHUNKS_PER_FILE = 256;
const ROUNDS = 3;

async function makeFiles(dir: string): Promise<string[]> {
  const paths: string[] = [];
  for (let f = 0; f < FILES; f++) {
    const chunks = new Map<string, Buffer>();
    const list: [string, number][] = [];
    for (let c = 0; c < CHUNKS_PER_FILE; c++) {
      const data = randomBytes(MiB);
      const sha = createHash('sha256').update(data).digest('hex');
      chunks.set(sha, data);
      list.push([sha, data.length]);
    }
    const file: ManifestFile = {
      path: 'payload.bin',
      size: CHUNKS_PER_FILE * MiB,
      sha256: '0'.repeat(64),
      chunks: list,
    };
    const path = join(dir, `BENCH${f}-v1.opkg`);
    await writePackageFile(
      path,
      {
        format: 'outpost-package/1',
        id: `C01${String(f).padStart(5, '0')}`,
        name: 'bench',
        sourceVersion: 1,
        origin: 'C01',
        files: [file],
      },
      async (sha) => chunks.get(sha) ?? Buffer.alloc(0),
      () => undefined,
    );
    paths.push(path);
  }
  return paths;
}

async function openssl(paths: string[], cores: number): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: cores }, (_, i) => {
      const mine = paths.filter((_, j) => j % cores === i);
      return mine.length ? run('openssl', ['dgst', '-sha256', ...mine], 600_000) : undefined;
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function verify(paths: string[], pool: VerifyPool): Promise<number> {
  const start = process.hrtime.bigint();
  const all = [];
  for (const file of paths) for (const c of (await indexPackageFile(file)).chunks) all.push({ file, ...c });
  let bad = 0;
  for await (const v of pool.verifyAll(all)) if (!v.ok) bad++;
  if (bad) throw new Error(`${bad} chunks failed to verify`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-preload-'));
try {
  const cores = availableParallelism();
  const paths = await makeFiles(dir);
  await syncDisks();
  const bytes = FILES * CHUNKS_PER_FILE * MiB;
  const pool = new VerifyPool();
  // Warm the page cache for both, so neither pays for the first read from disk.
  await openssl(paths, cores);
  let bestOpenssl = Number.POSITIVE_INFINITY;
  let bestVerify = Number.POSITIVE_INFINITY;
  for (let r = 0; r < ROUNDS; r++) {
    bestOpenssl = Math.min(bestOpenssl, await openssl(paths, cores));
    bestVerify = Math.min(bestVerify, await verify(paths, pool));
  }
  await pool.close();
  const rate = (s: number) => `${(bytes / MiB / s).toFixed(0)} MiB/s`;
  console.log(
    JSON.stringify(
      {
        machine: machineInfo(),
        bytes,
        workers: cores,
        openssl: { seconds: bestOpenssl, rate: rate(bestOpenssl) },
        preloadVerify: { seconds: bestVerify, rate: rate(bestVerify) },
        ratio: Number((bestOpenssl / bestVerify).toFixed(2)),
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
