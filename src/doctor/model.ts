import type { JobState } from '../db/index.js';
import { SIGNATURE_WINDOW_MS } from '../s2s/index.js';

export const DOCTOR_CHECKS = ['mp', 'dp', 'senders', 'keys', 'disk', 'clock', 'jobs'] as const;
export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number];
export type Verdict = 'ok' | 'warn' | 'fail';

/** One line of the doctor's table. */
export interface DoctorCheck {
  check: DoctorCheckName;
  /** What was checked: a site, a DP (`S02`, `S02/NAME`), a link (`C01 -> S02`) or a job. */
  target: string;
  verdict: Verdict;
  detail: string;
  /** What to do about a warning or a failure. */
  hint?: string;
}

/** The `doctor --json` shape. */
export interface DoctorResult {
  site: string;
  /** No check failed (warnings do not count). */
  ok: boolean;
  checks: DoctorCheck[];
}

/** How long one call to a peer, a DP or the MP may take: a dead peer must not hang doctor. */
export const PEER_CALL_MS = 5_000;
/** Clock skew above this is worth a warning; above the signature window, signed requests fail. */
export const SKEW_WARN_MS = 30_000;

/** A result of `checks` for `site`. */
export function resultOf(site: string, checks: DoctorCheck[]): DoctorResult {
  return { site, ok: checks.every((c) => c.verdict !== 'fail'), checks };
}

/** The check's verdict, with the hint only where something is wrong. */
export function check(
  name: DoctorCheckName,
  target: string,
  verdict: Verdict,
  detail: string,
  hint?: string,
): DoctorCheck {
  return { check: name, target, verdict, detail, ...(verdict !== 'ok' && hint ? { hint } : {}) };
}

/**
 * The clock check of one link: `skewMs` is the peer's clock minus ours (at the middle of the call).
 * Past the signature window every signed request between the two is refused.
 */
export function clockVerdict(target: string, peer: string, skewMs: number): DoctorCheck {
  const abs = Math.abs(skewMs);
  const detail = `${peer}'s clock is ${(abs / 1000).toFixed(1)}s ${skewMs >= 0 ? 'ahead' : 'behind'} (warn above ${SKEW_WARN_MS / 1000}s, fail above ${SIGNATURE_WINDOW_MS / 1000}s)`;
  const hint = 'synchronise both hosts with NTP (timedatectl status; chronyc tracking)';
  if (abs > SIGNATURE_WINDOW_MS) return check('clock', target, 'fail', detail, hint);
  return check('clock', target, abs > SKEW_WARN_MS ? 'warn' : 'ok', detail, hint);
}

/** An open job as the jobs check reads it, with the retries its address allows. */
export interface OpenJob {
  id: string;
  site: string;
  state: JobState;
  attempts: number;
  retries: number | null;
  leaseExpiresAt: number | null;
  updatedAt: number;
}

/** A job that will not move on by itself, and why. */
export interface StuckJob {
  job: OpenJob;
  reason: string;
}

/**
 * The open jobs that are stuck: active with no progress long past their lease (their sender renews
 * the lease with every bit of progress, and a sender that stopped has its jobs taken back within a
 * round, so a lease expired more than `graceMs` ago is held by nobody alive), or waiting for another
 * attempt when their address allows no more.
 */
export function stuckJobs(jobs: readonly OpenJob[], now: number, graceMs: number): StuckJob[] {
  const out: StuckJob[] = [];
  const at = (ms: number) => new Date(ms).toISOString();
  for (const job of jobs) {
    if (job.state === 'active' && job.leaseExpiresAt !== null && job.leaseExpiresAt < now - graceMs) {
      out.push({
        job,
        reason: `active with no progress since ${at(job.updatedAt)}; its lease ran out at ${at(job.leaseExpiresAt)} and nobody took it back`,
      });
    } else if (job.state !== 'active' && job.retries !== null && job.attempts > job.retries) {
      out.push({
        job,
        reason: `${job.state} since ${at(job.updatedAt)} after ${job.attempts} attempts, the most its address allows (1 + ${job.retries} retries): it should have failed`,
      });
    }
  }
  return out;
}
