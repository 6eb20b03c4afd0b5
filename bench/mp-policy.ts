/**
 * Management point under load: a real C01 → S02 hierarchy (each site its own process) with two
 * boundaries of S02, a few deployments of Installed packages, and 200 in-process clients, each with
 * its own Ed25519 key and its own loopback source address inside a boundary, registering and then
 * asking S02 for their policy as fast as they can. Reports policy requests/s, p50/p99 latency and
 * the CPU of S02's process. See docs/BENCHMARKS.md.
 *
 *   npm run bench:mp-policy -- [--clients 200] [--seconds 10] [--deployments 3] [--json]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MpClient } from '../src/client/index.js';
import { waitFor } from '../src/demo/index.js';
import type { PackageView } from '../src/packages/index.js';
import { generateSiteKeys, type Policy, type Unassigned } from '../src/s2s/index.js';
import type { PackageStatus } from '../src/status/index.js';
import { cpuSeconds, guardedBenchmark, machineInfo } from './tools.js';

/** The two boundaries of S02 the clients are spread over (a /24 each: 254 addresses). */
const BOUNDARIES = [
  { name: 'branch-a', range: '127.0.2.0/24', prefix: '127.0.2.' },
  { name: 'branch-b', range: '127.0.3.0/24', prefix: '127.0.3.' },
];
const WARM_UP_MS = 2_000;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '10' },
      deployments: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
    },
  });
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const deployments = Number(values.deployments);
  if (!Number.isInteger(clients) || clients < 1 || clients > 500)
    throw new Error('--clients must be an integer from 1 to 500 (two /24 boundaries)');
  if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
  if (!Number.isInteger(deployments) || deployments < 1 || deployments > 20)
    throw new Error('--deployments must be an integer from 1 to 20');
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  const machine = machineInfo();
  for (const [k, v] of Object.entries(machine)) say(`${k.padEnd(7)} ${v}`);
  say(
    `load    ${clients} clients polling GET /mp/v1/policy for ${seconds} s (after ${WARM_UP_MS / 1000} s warm-up)`,
  );

  await guardedBenchmark('mp-policy', 600_000 + seconds * 1000, async (tmp, servers) => {
    await servers.withHierarchy(join(tmp, 'sites'), async (h) => {
      const { C01, S02 } = h.sites;
      for (const b of BOUNDARIES)
        await C01.admin.post('/boundaries', { site: 'S02', range: b.range, name: b.name });
      // Each deployment its own package, Installed on S02's DP, so every policy names files and DPs.
      for (let i = 0; i < deployments; i++) {
        const source = join(tmp, `package-${i}`);
        await mkdir(source);
        for (let f = 0; f < 3; f++)
          await writeFile(join(source, `file-${f}.txt`), `package ${i} file ${f}\n`);
        await writeFile(join(source, 'install.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
        const pkg = await C01.admin.post<PackageView>('/packages', { name: `app-${i}`, source });
        await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
        const target = i % 2 === 0 ? { sites: ['S02'] } : { boundaries: [BOUNDARIES[i % 2].name] };
        await C01.admin.post('/deployments', { package: pkg.id, command: './install.sh', ...target });
        await waitFor(`package ${pkg.id} Installed on S02`, 120_000, async () => {
          const rows = await S02.admin.get<PackageStatus[]>('/status/packages', { package: pkg.id });
          return rows.some((r) => r.dp === 'S02' && r.state === 'Installed');
        });
      }
      const mps = Array.from({ length: clients }, (_, i) => {
        const b = BOUNDARIES[i % BOUNDARIES.length];
        return new MpClient(S02.url, generateSiteKeys().privateKeyPem, {
          bind: `${b.prefix}${1 + Math.floor(i / BOUNDARIES.length)}`,
        });
      });
      try {
        for (const mp of mps) {
          const placed = await mp.register(`bench-${mp.id.slice(0, 8)}`);
          if (!placed.assigned) throw new Error(`client ${mp.id} was not placed: ${placed.message}`);
        }
        // The deployments reach S02 with the policy C01 gives it: wait until each client sees its own.
        const expected = (i: number) =>
          Math.ceil(deployments / 2) + (i % 2 === 1 ? Math.floor(deployments / 2) : 0);
        await waitFor('every deployment in the policy S02 gives', 60_000, async () => {
          const first = (await mps[0].policy()) as Policy | Unassigned;
          const second = (await mps[Math.min(1, clients - 1)].policy()) as Policy | Unassigned;
          return (
            'deployments' in first &&
            first.deployments.length === expected(0) &&
            'deployments' in second &&
            second.deployments.length === expected(Math.min(1, clients - 1))
          );
        });
        const pid = S02.process.child.pid;
        if (pid === undefined) throw new Error('S02 has no process id');
        const latencies: number[] = [];
        let failures = 0;
        let measuring = false;
        const start = performance.now();
        const measureFrom = start + WARM_UP_MS;
        const end = measureFrom + seconds * 1000;
        let cpu0 = 0;
        let own0 = process.cpuUsage();
        const begin = setTimeout(() => {
          measuring = true;
          cpu0 = cpuSeconds(pid);
          own0 = process.cpuUsage();
        }, WARM_UP_MS);
        await Promise.all(
          mps.map(async (mp, i) => {
            while (performance.now() < end) {
              const t0 = performance.now();
              const answer = await mp.policy().catch(() => null);
              const ok =
                answer !== null && 'deployments' in answer && answer.deployments.length === expected(i);
              if (!measuring || t0 < measureFrom) continue;
              if (ok) latencies.push(performance.now() - t0);
              else failures++;
            }
          }),
        );
        clearTimeout(begin);
        const serverCpu = cpuSeconds(pid) - cpu0;
        const own = process.cpuUsage(own0);
        const generatorCpu = (own.user + own.system) / 1e6;
        latencies.sort((a, b) => a - b);
        const result = {
          requests: latencies.length,
          failures,
          perSecond: Number((latencies.length / seconds).toFixed(1)),
          p50Ms: Number(percentile(latencies, 50).toFixed(2)),
          p99Ms: Number(percentile(latencies, 99).toFixed(2)),
          serverCpuPercent: Number(((serverCpu / seconds) * 100).toFixed(0)),
          serverCpuMsPerRequest: Number(((serverCpu * 1000) / Math.max(1, latencies.length)).toFixed(2)),
          generatorCpuPercent: Number(((generatorCpu / seconds) * 100).toFixed(0)),
        };
        say(
          `\npolicy requests/s ${result.perSecond}  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms  (${result.requests} answered, ${failures} failed)`,
        );
        say(
          `CPU: S02's process ${result.serverCpuPercent} % of one core (${result.serverCpuMsPerRequest} ms per answered request), this load generator ${result.generatorCpuPercent} %`,
        );
        if (values.json)
          console.log(JSON.stringify({ machine, clients, seconds, deployments, ...result }, null, 2));
      } finally {
        await Promise.all(mps.map((mp) => mp.close()));
      }
    });
  });
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
