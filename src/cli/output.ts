import Table from 'cli-table3';
import pc from 'picocolors';

export { formatBytes } from '../common/index.js';

/** Prints JSON (for --json) or a table of the named columns. */
export function printRows<T extends object>(
  json: boolean,
  rows: T[],
  columns: [header: string, get: (row: T) => unknown][],
): void {
  if (json) {
    printJson(rows);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const table = new Table({ head: columns.map(([h]) => pc.bold(h)), style: { head: [], border: [] } });
  for (const row of rows) table.push(columns.map(([, get]) => formatCell(get(row))));
  process.stdout.write(`${table.toString()}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints one object as `key: value` lines, or JSON. */
export function printObject(json: boolean, value: Record<string, unknown>, skip: string[] = []): void {
  if (json) {
    printJson(value);
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
  if (state === 'Installed' || state === 'active' || state === 'completed') return pc.green(state);
  if (/Failed|failed|deleted/.test(state)) return pc.red(state);
  if (/Retrying|retrying|unreachable/.test(state)) return pc.yellow(state);
  return state;
}
