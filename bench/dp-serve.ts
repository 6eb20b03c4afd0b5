/**
 * DP serving under load: one package of one 64 MiB file Installed on S02's DP, and nginx serving
 * the identical file from a folder, in the same run; 100 concurrent clients download the whole file
 * from each, with an in-bench load generator (node:http on worker threads, see download-worker.ts)
 * and with 100 curl processes. Reports the aggregate throughput, the Outpost/nginx ratio (target
 * >= 0.8), the CPU each server and the generator used, and the DP process's peak RSS. See
 * docs/BENCHMARKS.md.
 *
 *   npm run bench:dp-serve -- [--clients 100] [--size-mib 64] [--rounds 3] [--range-mib N]
 *     [--workers N] [--nginx-workers auto|N] [--json]
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { waitFor } from '../src/demo/index.js';
import type { PackageView } from '../src/packages/index.js';
import type { PackageStatus } from '../src/status/index.js';
import type { DownloadJob } from './download-worker.js';
import {
  cpuSeconds,
  guardedBenchmark,
  machineInfo,
  peakRss,
  requireTools,
  resetPeakRss,
  run,
  startNginx,
  versionOf,
} from './tools.js';

const MiB = 1024 * 1024;

/** One timed round: every client downloaded the whole file once. */
interface Round {
  seconds: number;
  /** CPU seconds the server used during the round (all its processes). */
  serverCpu: number;
  /** CPU seconds this process (the load generator) used during the round. */
  generatorCpu: number;
}

/**
 * `clients` downloads of the file at `url` at once over `clients` kept-alive connections, each
 * whole (or, with `rangeBytes`, as consecutive Range requests of that size), every byte counted;
 * spread over `workers` threads (see download-worker.ts) so the generator is not held to one core.
 */
async function nodeRound(
  url: URL,
  clients: number,
  size: number,
  rangeBytes: number,
  workers: number,
): Promise<void> {
  const shares = Array.from({ length: workers }, (_, i) => Math.floor((clients + i) / workers)).filter(
    (n) => n > 0,
  );
  await Promise.all(
    shares.map(
      (share) =>
        new Promise<void>((resolve, reject) => {
          const job: DownloadJob = { url: url.href, clients: share, size, rangeBytes };
          const worker = new Worker(new URL('./download-worker.js', import.meta.url), { workerData: job });
          worker.once('message', (m: { ok: boolean; error?: string }) =>
            m.ok ? resolve() : reject(new Error(m.error)),
          );
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`load worker exited ${code}`)));
        }),
    ),
  );
}

/** `clients` curl processes at once, each downloading the whole file to /dev/null; checks the sizes. */
async function curlRound(url: URL, clients: number, size: number, timeoutMs: number): Promise<void> {
  const one = async () => {
    const got = await run(
      'curl',
      ['-sS', '--fail', '-o', '/dev/null', '-w', '%{size_download}', url.href],
      timeoutMs,
    );
    if (Number(got) !== size) throw new Error(`curl got ${got} bytes from ${url.origin}, expected ${size}`);
  };
  await Promise.all(Array.from({ length: clients }, one));
}

/** Runs `load` and measures it: wall seconds, and the CPU of the server `pid` and of this process. */
async function timed(pid: number, load: () => Promise<void>): Promise<Round> {
  const cpu0 = cpuSeconds(pid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  await load();
  const seconds = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  return { seconds, serverCpu: cpuSeconds(pid) - cpu0, generatorCpu: (own.user + own.system) / 1e6 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '100' },
      'size-mib': { type: 'string', default: '64' },
      rounds: { type: 'string', default: '3' },
      'range-mib': { type: 'string', default: '0' },
      workers: { type: 'string', default: String(availableParallelism()) },
      'nginx-workers': { type: 'string', default: 'auto' },
      json: { type: 'boolean', default: false },
    },
  });
  const clients = Number(values.clients);
  const sizeMiB = Number(values['size-mib']);
  const rounds = Number(values.rounds);
  const rangeMiB = Number(values['range-mib']);
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers must be a positive integer');
  const nginxWorkers = values['nginx-workers'];
  if (!/^(auto|[1-9][0-9]?)$/.test(nginxWorkers))
    throw new Error("--nginx-workers must be 'auto' or 1 to 99");
  if (!Number.isInteger(clients) || clients < 1 || clients > 1000)
    throw new Error('--clients must be an integer from 1 to 1000');
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new Error('--size-mib must be a positive integer');
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  if (!Number.isInteger(rangeMiB) || rangeMiB < 0)
    throw new Error('--range-mib must be 0 (whole file) or a positive integer');
  requireTools(['nginx', 'curl']);
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  const machine = {
    ...machineInfo(),
    nginx: versionOf('nginx', ['-v']),
    curl: versionOf('curl', ['--version']),
  };
  for (const [k, v] of Object.entries(machine)) say(`${k.padEnd(7)} ${v}`);
  const size = sizeMiB * MiB;
  const total = size * clients;
  const stepMs = 120_000 + total / (10 * MiB); // >= 10 MiB/s in aggregate
  say(
    `load    nginx worker_processes ${nginxWorkers}; ${clients} clients x one ${sizeMiB} MiB file (${rangeMiB ? `${rangeMiB} MiB Range requests` : 'whole-file GETs'}), ${rounds} rounds`,
  );

  await guardedBenchmark('dp-serve', 300_000 + stepMs * rounds * 4, async (tmp, servers) => {
    const src = join(tmp, 'src');
    await mkdir(src);
    const data = randomFillSync(Buffer.allocUnsafe(size));
    const sha = createHash('sha256').update(data).digest('hex');
    await writeFile(join(src, 'big.bin'), data, { mode: 0o644 });
    // By default one worker per core: the DP uses more than one thread too (libuv's pool reads).
    const nginx = await startNginx(servers, tmp, src, {
      workers: nginxWorkers,
      connections: clients * 2 + 16,
    });
    await servers.withHierarchy(join(tmp, 'sites'), async (h) => {
      const { C01, S02 } = h.sites;
      const pkg = await C01.admin.post<PackageView>('/packages', { name: 'bench', source: src });
      await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
      await waitFor('the package Installed on S02', stepMs, async () => {
        const rows = await S02.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
        return rows.some((r) => r.dp === 'S02' && r.state === 'Installed');
      });
      const targets = [
        { name: 'nginx', url: new URL(`${nginx.url}/big.bin`), pid: nginx.pid },
        { name: 'Outpost DP', url: new URL(`${S02.url}/dp/${pkg.id}/big.bin`), pid: S02.process.child.pid },
      ];
      for (const t of targets) {
        const got = await fetch(t.url);
        const served = createHash('sha256')
          .update(Buffer.from(await got.arrayBuffer()))
          .digest('hex');
        if (served !== sha) throw new Error(`${t.name} serves other bytes than the file`);
      }
      const dpPid = S02.process.child.pid;
      if (dpPid === undefined) throw new Error('S02 has no process id');
      const rssBefore = peakRss(dpPid).rss;
      let rssPeak = 0;
      const results: Record<string, Round[]> = {};
      const record = (key: string, r: Round) => {
        results[key] = [...(results[key] ?? []), r];
        const rate = (total / MiB / r.seconds).toFixed(0);
        say(
          `  ${key.padEnd(24)} ${r.seconds.toFixed(2)} s  ${rate} MiB/s  server CPU ${r.serverCpu.toFixed(1)} s  generator CPU ${r.generatorCpu.toFixed(1)} s`,
        );
      };
      // Rounds interleave the servers and the generators, so background load hits them alike.
      for (let r = 1; r <= rounds; r++) {
        say(`round ${r}/${rounds}`);
        for (const t of targets) {
          const pid = t.pid ?? 0;
          if (pid === dpPid) resetPeakRss(dpPid);
          record(
            `${t.name}, ${workers} node:http threads`,
            await timed(pid, () => nodeRound(t.url, clients, size, rangeMiB * MiB, workers)),
          );
          if (pid === dpPid) rssPeak = Math.max(rssPeak, peakRss(dpPid).peak);
        }
        if (rangeMiB > 0) continue; // curl takes whole files only here
        for (const t of targets) {
          const pid = t.pid ?? 0;
          if (pid === dpPid) resetPeakRss(dpPid);
          record(
            `${t.name}, ${clients} curl`,
            await timed(pid, () => curlRound(t.url, clients, size, stepMs)),
          );
          if (pid === dpPid) rssPeak = Math.max(rssPeak, peakRss(dpPid).peak);
        }
      }
      const best = (key: string) => {
        const rs = results[key] ?? [];
        const b = rs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
        return { ...b, mibPerS: total / MiB / b.seconds, all: rs.map((x) => Number(x.seconds.toFixed(2))) };
      };
      say(`\n| server, load generator | best of ${rounds} (s) | MiB/s | server CPU (s) | all rounds (s) |`);
      say('| --- | ---: | ---: | ---: | --- |');
      const summary: Record<string, ReturnType<typeof best>> = {};
      for (const key of Object.keys(results)) {
        const b = best(key);
        summary[key] = b;
        say(
          `| ${key} | ${b.seconds.toFixed(2)} | ${b.mibPerS.toFixed(0)} | ${b.serverCpu.toFixed(1)} | ${b.all.join(', ')} |`,
        );
      }
      const ratios: Record<string, number> = {};
      for (const gen of [`${workers} node:http threads`, `${clients} curl`]) {
        const n = summary[`nginx, ${gen}`];
        const o = summary[`Outpost DP, ${gen}`];
        if (!n || !o) continue;
        ratios[gen] = Number((o.mibPerS / n.mibPerS).toFixed(3));
        say(`Outpost/nginx with ${gen}: ${ratios[gen].toFixed(2)}x (target >= 0.8)`);
      }
      say(
        `DP process RSS: ${(rssBefore / MiB).toFixed(0)} MiB before the load, peak ${(rssPeak / MiB).toFixed(0)} MiB under it (VmHWM)`,
      );
      say('MiB/s = 2^20 bytes per second of wall time, all clients together.');
      if (values.json)
        console.log(
          JSON.stringify(
            {
              machine,
              clients,
              sizeMiB,
              rangeMiB,
              rounds,
              summary,
              ratios,
              dpRss: { before: rssBefore, peak: rssPeak },
            },
            null,
            2,
          ),
        );
    });
  });
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
