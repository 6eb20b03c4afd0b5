import { type Command, Option } from 'commander';
import { OutpostError } from '../errors/index.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';

export interface CommonOptions {
  json?: boolean;
  output?: OutputFormat;
  server?: string;
  token?: string;
  data?: string;
}

/** Adds the options every server-talking command takes. */
export function serverOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'machine-readable output on stdout')
    .addOption(
      new Option(
        '-o, --output <format>',
        'json (same as --json), wide (every column, uncut), name (ids only)',
      ).choices(OUTPUT_FORMATS),
    )
    .option('--server <url>', 'site server URL (or OUTPOST_SERVER)', parseServerUrl)
    .option('--token <token>', 'admin token (or OUTPOST_TOKEN)')
    .option('--data <dir>', 'read server and token from this local data directory');
}

/** A parser of option `name`: an http(s) URL; a bare HOST:PORT is refused with the URL it probably meant. */
export function parseUrlOption(name: string) {
  return (value: string): string => {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value))
      throw new OutpostError('OUTPOST_BAD_INPUT', `${name} '${value}' has no scheme`, {
        hint: `did you mean http://${value}?`,
      });
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new OutpostError('OUTPOST_BAD_INPUT', `${name} '${value}' is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new OutpostError('OUTPOST_BAD_INPUT', `${name} '${value}' must be an http or https URL`);
    return value;
  };
}

/** `--server`: an http(s) URL. */
export const parseServerUrl = parseUrlOption('--server');

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
