import { spawn } from 'node:child_process';
import { OUTPUT_TAIL, type Program } from '../s2s/index.js';
import { OutputTail } from './tail.js';

export interface ProgramResult {
  /** The exit code, or null when it was killed (timeout, signal, stop). */
  exitCode: number | null;
  succeeded: boolean;
  /** The last OUTPUT_TAIL characters of its stdout and stderr together. */
  output: string;
  timedOut: boolean;
}

/** Kills a process group; it may have gone already. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/**
 * Runs a deployment's program with the shell in `cwd`, in a process group of its own so that on
 * timeout or stop (`signal`) the whole group is killed, not only the shell.
 */
export function runProgram(
  program: Program,
  cwd: string,
  env: Record<string, string>,
  signal: AbortSignal,
): Promise<ProgramResult> {
  return new Promise((resolve) => {
    const tail = new OutputTail(OUTPUT_TAIL);
    let timedOut = false;
    const child = spawn(program.command, {
      shell: true,
      cwd,
      detached: true,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8').on('data', (s: string) => tail.push(s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => tail.push(s));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, program.timeoutMs);
    const stop = () => killGroup(child.pid);
    signal.addEventListener('abort', stop, { once: true });
    const finish = (exitCode: number | null, note: string | null) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      if (note) tail.push(`${note}\n`);
      resolve({
        exitCode,
        succeeded: exitCode !== null && program.successCodes.includes(exitCode),
        output: tail.toString(),
        timedOut,
      });
    };
    child.on('error', (err) => finish(null, `outpost: cannot start the program: ${err.message}`));
    child.on('close', (code, sig) =>
      finish(
        code,
        timedOut
          ? `outpost: killed after the timeout of ${program.timeoutMs} ms`
          : sig
            ? `outpost: stopped by ${sig}`
            : null,
      ),
    );
  });
}
