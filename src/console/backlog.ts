/** Jobs still to run (not completed, failed for good or cancelled). */
export const OPEN_JOB_STATES = new Set(['pending', 'active', 'retrying']);

/** A site's package counts by state, as the hierarchy shows them: done, under way, in trouble. */
export interface PackageTally {
  installed: number;
  working: number;
  failed: number;
}

/** Folds the summary's counts per package state into the three an administrator scans for. */
export function tallyPackages(byState: Record<string, number>): PackageTally {
  const tally: PackageTally = { installed: 0, working: 0, failed: 0 };
  for (const [state, n] of Object.entries(byState)) {
    if (state === 'Installed') tally.installed += n;
    else if (state.endsWith('Failed')) tally.failed += n;
    else tally.working += n;
  }
  return tally;
}
