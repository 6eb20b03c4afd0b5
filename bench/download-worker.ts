/**
 * A worker thread of bench/dp-serve's load generator: `clients` concurrent downloads of one file over
 * kept-alive connections (node:http, whose parser is native: undici's copies every body byte into
 * its WebAssembly parser and could not keep up with nginx here), every byte counted.
 */
import { Agent, get } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

/** What the main thread asks of one worker. */
export interface DownloadJob {
  url: string;
  clients: number;
  size: number;
  /** 0: whole-file GETs; otherwise consecutive Range requests of this many bytes. */
  rangeBytes: number;
}

function download(agent: Agent, url: URL, start: number, end: number, size: number): Promise<void> {
  const partial = start !== 0 || end !== size - 1;
  return new Promise((resolve, reject) => {
    const headers = partial ? { range: `bytes=${start}-${end}` } : {};
    get(url, { agent, headers }, (res) => {
      let got = 0;
      res.on('data', (data: Buffer) => {
        got += data.length;
      });
      res.once('error', reject);
      res.once('end', () => {
        if (res.statusCode !== (partial ? 206 : 200))
          reject(new Error(`${url.origin} answered ${res.statusCode}`));
        else if (got !== end - start + 1)
          reject(new Error(`${url.origin} sent ${got} bytes, expected ${end - start + 1}`));
        else resolve();
      });
    }).once('error', reject);
  });
}

async function run(job: DownloadJob): Promise<void> {
  const url = new URL(job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.clients });
  const step = job.rangeBytes > 0 ? job.rangeBytes : job.size;
  try {
    await Promise.all(
      Array.from({ length: job.clients }, async () => {
        for (let start = 0; start < job.size; start += step)
          await download(agent, url, start, Math.min(job.size, start + step) - 1, job.size);
      }),
    );
  } finally {
    agent.destroy();
  }
}

run(workerData as DownloadJob).then(
  () => parentPort?.postMessage({ ok: true }),
  (err: unknown) =>
    parentPort?.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
);
