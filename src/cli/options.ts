import type { Command } from 'commander';
import { OutpostError } from '../errors/index.js';

export interface CommonOptions {
  json?: boolean;
  server?: string;
  token?: string;
  data?: string;
}

/** Adds the options every server-talking command takes. */
export function serverOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'machine-readable output on stdout')
    .option('--server <url>', 'site server URL (or OUTPOST_SERVER)')
    .option('--token <token>', 'admin token (or OUTPOST_TOKEN)')
    .option('--data <dir>', 'read server and token from this local data directory');
}

/** Collects a repeatable option (`--dp A --dp B`, or `--dp A B`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

export function parseIntOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new OutpostError(
        'OUTPOST_BAD_INPUT',
        `${name} '${value}' must be a whole number from ${min} to ${max}`,
      );
    }
    return n;
  };
}
