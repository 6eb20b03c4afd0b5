/** 1536 → "1.5 KiB". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Seconds as "1h 02m", "3m 05s", "12s". */
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined) return '–';
  const t = Math.max(0, Math.round(s));
  if (t >= 3600) return `${Math.floor(t / 3600)}h ${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
  if (t >= 60) return `${Math.floor(t / 60)}m ${String(t % 60).padStart(2, '0')}s`;
  return `${t}s`;
}

/** An epoch-ms time as how long ago it was ("4s ago"); null as "never". */
export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return 'never';
  return `${duration((now - ms) / 1000)} ago`;
}

/** An epoch-ms time as local date and time. */
export function when(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '–' : new Date(ms).toLocaleString();
}

/** 1, 'job' → "1 job"; 2, 'job' → "2 jobs". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
