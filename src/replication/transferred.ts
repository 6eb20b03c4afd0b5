import { formatBytes } from '../common/index.js';

/**
 * What one attempt of a job moved, for the sender's log line: its bytes as last recorded for the
 * job (a failed attempt's progress is written every so often, so its last moments may be missing),
 * how long it took and the rate, as fields and as words.
 */
export function transferred(
  bytes: number,
  started: number,
  now: number,
): { fields: { bytes: number; durationMs: number; bytesPerSecond: number }; text: string } {
  const durationMs = Math.max(0, now - started);
  const bytesPerSecond = Math.round((bytes * 1000) / Math.max(1, durationMs));
  return {
    fields: { bytes, durationMs, bytesPerSecond },
    text: `${formatBytes(bytes)} in ${(durationMs / 1000).toFixed(1)}s at ${formatBytes(bytesPerSecond)}/s`,
  };
}
