import { stripVTControlCharacters } from 'node:util';
import { colourOn, colours, outColours as pc } from './colour.js';

export { formatBytes } from '../common/index.js';

/** What `-o` asks for; `--json` is the same as `-o json`. */
export const OUTPUT_FORMATS = ['json', 'wide', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

// One CLI run is one command: index.ts records its -o/--json here before the action runs, so every
// table and object printer follows it without each command passing it along.
let format: OutputFormat | undefined;

/** Records the output format of the command about to run. */
export function setOutputFormat(value: OutputFormat | undefined): void {
  format = value;
}

/** True when output is for people (no -o json or -o name): extra sections such as phases belong. */
export function humanOutput(): boolean {
  return format === undefined || format === 'wide';
}

/** A table column: header, cell, and whether it shows only with `-o wide`. */
export type Column<T> = [header: string, get: (row: T) => unknown, only?: 'wide'];

/** Where a table goes: stdout, or a stand-in with the same three members (tests). */
export interface TableOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A row's identifier for -o name: its full `id` (jobs, packages), or else its first column. */
function rowName<T extends object>(row: T, first: Column<T>): string {
  const id: unknown = (row as { id?: unknown }).id;
  return typeof id === 'string' ? id : stripVTControlCharacters(formatCell(first[1](row)));
}

/**
 * Prints JSON (for --json), one identifier per row (-o name), or a table of the columns sized to
 * the terminal.
 */
export function printRows<T extends object>(
  json: boolean,
  rows: T[],
  columns: Column<T>[],
  out: TableOutput = process.stdout,
): void {
  if (json) {
    printJson(rows);
    return;
  }
  if (format === 'name') {
    for (const row of rows) out.write(`${rowName(row, columns[0])}\n`);
    return;
  }
  if (rows.length === 0) {
    out.write('(none)\n');
    return;
  }
  const shown = columns.filter(([, , only]) => only !== 'wide' || format === 'wide');
  out.write(
    renderTable(
      shown.map(([h]) => h),
      rows.map((row) => shown.map(([, get]) => formatCell(get(row)))),
      {
        boxed: !!out.isTTY,
        colour: colourOn(out),
        width: out.isTTY && format !== 'wide' ? out.columns : undefined,
      },
    ),
  );
}

const ELLIPSIS = '…';
/** Narrowest a truncated column gets: room for a few characters and the ellipsis. */
const MIN_COLUMN = 6;

const visibleWidth = (text: string) => stripVTControlCharacters(text).length;

function fitCell(text: string, width: number): string {
  const pad = width - visibleWidth(text);
  if (pad >= 0) return text + ' '.repeat(pad);
  // Colour codes are dropped from a cell that is cut: cutting through them would bleed colour.
  return `${stripVTControlCharacters(text).slice(0, width - 1)}${ELLIPSIS}`;
}

/**
 * Column widths within `total` characters of content: columns narrower than a common cap keep
 * their width, the wider ones are cut to the cap (never below MIN_COLUMN or their header).
 */
function columnWidths(natural: number[], floors: number[], total: number | undefined): number[] {
  if (total === undefined || natural.reduce((a, b) => a + b, 0) <= total) return natural;
  const used = (cap: number) => natural.reduce((sum, w, i) => sum + Math.max(Math.min(w, cap), floors[i]), 0);
  let cap = Math.max(...natural);
  while (cap > 0 && used(cap) > total) cap--;
  return natural.map((w, i) => Math.max(Math.min(w, cap), floors[i]));
}

/**
 * A table as text. On a terminal (`boxed`): a frame and a line under the header, no lines between
 * rows. Otherwise plain columns two spaces apart, as kubectl prints them. `width` (the terminal's)
 * cuts the widest cells with an ellipsis; without it nothing is cut. `colour` bolds the header.
 */
export function renderTable(
  headers: string[],
  rows: string[][],
  options: { boxed: boolean; width?: number; colour?: boolean },
): string {
  const c = colours(options.colour ?? false);
  const natural = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleWidth(r[i]))));
  const floors = headers.map((h, i) => Math.min(natural[i], Math.max(MIN_COLUMN, h.length)));
  // A frame costs `│ ` before each column, ` ` after it, and the closing `│`; plain costs the gaps.
  const overhead = options.boxed ? headers.length * 3 + 1 : (headers.length - 1) * 2;
  const total = options.width === undefined ? undefined : options.width - overhead;
  const widths = columnWidths(natural, floors, total);
  const line = (cells: string[]) => cells.map((c, i) => fitCell(c, widths[i]));
  const head = line(headers).map((h) => c.bold(h));
  if (!options.boxed) {
    return [head, ...rows.map(line)].map((cells) => `${cells.join('  ').trimEnd()}\n`).join('');
  }
  const rule = (left: string, mid: string, right: string) =>
    c.dim(`${left}${widths.map((w) => '─'.repeat(w + 2)).join(mid)}${right}`);
  const bar = c.dim('│');
  const boxedLine = (cells: string[]) => `${bar} ${cells.join(` ${bar} `)} ${bar}`;
  return `${[rule('┌', '┬', '┐'), boxedLine(head), rule('├', '┼', '┤'), ...rows.map((r) => boxedLine(line(r))), rule('└', '┴', '┘')].join('\n')}\n`;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints one object as `key: value` lines, its identifier (-o name), or JSON. */
export function printObject(json: boolean, value: Record<string, unknown>, skip: string[] = []): void {
  if (json) {
    printJson(value);
    return;
  }
  if (format === 'name') {
    const key = ['id', 'code', 'site'].find((k) => typeof value[k] === 'string');
    if (key) process.stdout.write(`${value[key]}\n`);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (skip.includes(k) || typeof v === 'object') continue;
    process.stdout.write(`${pc.bold(k.padEnd(14))} ${formatCell(v)}\n`);
  }
}

export function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && value > 1_000_000_000_000 && value < 10_000_000_000_000)
    return formatTime(value);
  return String(value);
}

export function formatTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function colourState(state: string): string {
  if (state === 'Installed' || state === 'active' || state === 'completed' || state === 'succeeded')
    return pc.green(state);
  if (/Failed|failed|deleted/.test(state)) return pc.red(state);
  if (/Retrying|retrying|unreachable/.test(state)) return pc.yellow(state);
  return state;
}

/** A status message severity, coloured when colour is on (see colour.ts). */
export function colourSeverity(severity: string, text = severity): string {
  if (severity === 'error') return pc.red(text);
  if (severity === 'warning') return pc.yellow(text);
  return pc.dim(text);
}

/** Seconds left, as a person reads them: `42s`, `3m05s`, `1h02m`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
}
