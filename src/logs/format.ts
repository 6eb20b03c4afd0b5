const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Fields every line has, shown in their own columns or not at all (`site` is the server asked). */
const SHOWN_APART = new Set(['time', 'level', 'msg', 'component', 'site', 'pid', 'hostname']);

/** Control characters (a remote error's newline) as escapes, so one entry stays one line. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w.,:/@+%-]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object') {
    // pino's error serializer: the message is what an administrator reads; the stack stays in --json.
    const message = (value as { message?: unknown }).message;
    if (!Array.isArray(value) && typeof message === 'string') return JSON.stringify(message);
    return JSON.stringify(value);
  }
  return String(value);
}

function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ');
}

/**
 * One JSON log line as an administrator reads it: time, level name, component, message, then the
 * other fields as key=value. A line that is not a JSON object is returned as it is.
 */
export function formatLogLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return line;
  const fields = entry as Record<string, unknown>;
  const time = typeof fields.time === 'number' ? formatTimestamp(fields.time) : '-';
  const level = LEVELS[Number(fields.level)] ?? String(fields.level ?? '-');
  const component = String(fields.component ?? '-');
  const extras = Object.entries(fields)
    .filter(([key, value]) => !SHOWN_APART.has(key) && value !== undefined && value !== null)
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  return [time, level.padEnd(5), component.padEnd(9), oneLine(String(fields.msg ?? '')), ...extras]
    .join(' ')
    .trimEnd();
}
