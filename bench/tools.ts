/** Helpers the benchmarks share: running the tools they compare against. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a command to completion; rejects on a non-zero exit or after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code, sig) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code ?? sig}: ${err}`)),
    );
  });
}

/** First line of a tool's version output (nginx prints it on stderr). */
export function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
}

/** Flushes dirty pages of the previous run, so they are not written back during the next one. */
export const syncDisks = () => run('sync', [], 120_000);

/** The machine a benchmark ran on, as its report prints it. */
export function machineInfo() {
  return {
    nproc: availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
  };
}
