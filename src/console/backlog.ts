import type { Job } from './types';

/** Jobs still to run (not completed, failed for good or cancelled). */
export const OPEN_JOB_STATES = new Set(['pending', 'active', 'retrying']);

export interface Backlog {
  jobs: number;
  bytes: number;
  /** Bytes a second over the jobs under way now. */
  rate: number;
}

/**
 * Per child site, what this site still has to send it, from the job list.
 * (GET /api/v1/status/summary, when it exists, carries this for every site below, not only children.)
 */
export function backlogBySite(jobs: Job[]): Map<string, Backlog> {
  const out = new Map<string, Backlog>();
  for (const j of jobs) {
    if (!OPEN_JOB_STATES.has(j.state)) continue;
    const b = out.get(j.site) ?? { jobs: 0, bytes: 0, rate: 0 };
    b.jobs++;
    b.bytes += Math.max(0, j.bytesTotal - j.bytesSent);
    b.rate += j.rate ?? 0;
    out.set(j.site, b);
  }
  return out;
}
