import { createInterface } from 'node:readline/promises';
import { OutpostError } from '../errors/index.js';

async function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * The one confirmation of a destructive command: `--yes` goes ahead; on a terminal it asks
 * `question` (what will happen has been printed before); without a terminal it refuses (exit 2),
 * since a script must say so explicitly. Declined: says nothing was changed, exit 1, and returns false.
 */
export async function confirmed(yes: boolean | undefined, what: string, question: string): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY)
    throw new OutpostError('OUTPOST_BAD_INPUT', `${what}: not confirmed`, {
      hint: 'pass --yes when not on a terminal',
    });
  if (await ask(`${question} [y/N] `)) return true;
  process.stderr.write('outpost: nothing changed\n');
  process.exitCode = 1;
  return false;
}
