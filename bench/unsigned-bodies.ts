/**
 * Memory of a site server under unsigned requests that announce large bodies and send them: the
 * attack of issue 8, item 3. Starts a central site from an `outpost` executable (this checkout's
 * by default, or another build's with --bin, to compare), sends --requests such requests at once,
 * each streaming its --mib MiB body until the server answers or closes, and prints the server's
 * resident memory before and at its peak, and how much body each request got to send.
 *
 *   npm run build && node dist/bench/unsigned-bodies.js [--bin PATH] [--requests 12] [--mib 64]
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, OUTPOST_BIN, waitFor } from '../src/demo/index.js';

const MiB = 1024 * 1024;

function rssOf(pid: number | undefined): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]) * 1024;
}

/** Sends the head, then the body in 1 MiB writes until the server answers or closes. */
function attack(port: number, mib: number): Promise<{ status: string; bodySentMiB: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let answer = '';
    let sent = 0;
    let done = false;
    const socket = connect(port, '127.0.0.1');
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({
        status: answer.split('\r\n')[0] || '(closed)',
        bodySentMiB: sent / MiB,
        ms: Date.now() - started,
      });
    };
    const piece = Buffer.alloc(MiB, 0x20);
    const pump = () => {
      while (!done && sent < mib * MiB) {
        sent += piece.length;
        if (!socket.write(piece)) return;
      }
    };
    socket.on('connect', () => {
      socket.write(
        `POST /s2s/v1/reports HTTP/1.1\r\nhost: outpost\r\ncontent-type: application/json\r\ncontent-length: ${mib * MiB}\r\n\r\n`,
      );
      pump();
    });
    socket.on('drain', pump);
    socket.on('data', (d: Buffer) => {
      answer += d.toString();
      finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bin: { type: 'string', default: OUTPOST_BIN },
      requests: { type: 'string', default: '12' },
      mib: { type: 'string', default: '64' },
    },
  });
  const requests = Number(values.requests);
  const mib = Number(values.mib);
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-bodies-'));
  const port = await freePort();
  const dataDir = join(dir, 'C01');
  const init = spawnSync(process.execPath, [
    values.bin,
    'init',
    '--code',
    'C01',
    '--data',
    dataDir,
    '--listen',
    `127.0.0.1:${port}`,
  ]);
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  const server = spawn(process.execPath, [values.bin, 'serve', '--data', dataDir], { stdio: 'ignore' });
  const exited = new Promise((resolve) => server.once('exit', resolve));
  try {
    await waitFor(
      'the site server',
      30_000,
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
    );
    const pid = server.pid;
    const before = rssOf(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pid));
    }, 50);
    const results = await Promise.all(Array.from({ length: requests }, () => attack(port, mib)));
    clearInterval(sampler);
    peak = Math.max(peak, rssOf(pid));
    const statuses = [...new Set(results.map((r) => r.status))];
    process.stdout.write(
      `${JSON.stringify({
        bin: values.bin,
        requests,
        declaredMiB: mib,
        rssBeforeMiB: Math.round(before / MiB),
        rssPeakMiB: Math.round(peak / MiB),
        answers: statuses,
        bodySentMiBMax: Math.max(...results.map((r) => r.bodySentMiB)),
        slowestAnswerMs: Math.max(...results.map((r) => r.ms)),
      })}\n`,
    );
  } finally {
    server.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
