import type { JobKind } from '../db/index.js';

/** A package version and the DPs it is for. */
export interface Target {
  version: number;
  dps: string[];
}

/** A job to the child, as far as the diff cares. */
export interface JobTarget {
  kind: JobKind;
  package: string | null;
  sourceVersion: number | null;
  dps: string[];
  /** Whether an attempt was made: only then can the child hold part of the package. */
  started: boolean;
}

/** Everything the diff of one child looks at. */
export interface ChildState {
  /** What the child should hold: package → version and DPs below it. */
  want: Map<string, Target>;
  /** What it was last given (completed jobs). */
  delivered: Map<string, Target>;
  /** Its pending, active and retrying jobs. */
  open: JobTarget[];
  /** Its jobs that used up their retries. */
  failed: JobTarget[];
}

/** What to do about one package at one child: cancel its open jobs, then make this job (if any). */
export interface ChildAction {
  package: string;
  cancelOpen: boolean;
  create: { kind: 'package' | 'unassign'; sourceVersion: number | null; dps: string[] } | null;
}

const same = (a: Target | undefined, b: Target | undefined) =>
  a?.version === b?.version && JSON.stringify(a?.dps ?? []) === JSON.stringify(b?.dps ?? []);

/**
 * The scheduler's decision for one child, from what it should hold, what it was given and the
 * jobs already made: one action per package that needs a change. Pure, so running it again after
 * its actions were applied yields nothing.
 */
export function diffChild(state: ChildState): ChildAction[] {
  const actions: ChildAction[] = [];
  const packages = new Set([
    ...state.want.keys(),
    ...state.delivered.keys(),
    ...state.open.map((j) => j.package ?? ''),
    ...state.failed.map((j) => j.package ?? ''),
  ]);
  for (const pkg of packages) {
    if (!pkg) continue;
    const target = state.want.get(pkg);
    const has = state.delivered.get(pkg);
    const openJobs = state.open.filter((j) => j.package === pkg);
    const targetOf = (j: JobTarget): Target => ({ version: j.sourceVersion ?? 0, dps: j.dps });
    const pending = openJobs.find((j) =>
      same(targetOf(j), target ?? { version: j.sourceVersion ?? 0, dps: [] }),
    );
    // A package job that ran but never completed (failed, or cancelled now) may have left chunks at
    // the child: with nothing wanted there, an unassign has it forget them.
    const partial =
      !has &&
      [...openJobs, ...state.failed.filter((j) => j.package === pkg)].some(
        (j) => j.kind === 'package' && j.started,
      );
    const nothingToDo = target ? same(target, has) : !has && !partial;
    // A job that used up its retries stays failed (Install Failed) until the target changes or an
    // administrator redistributes; it is not silently re-created every round.
    const gaveUp = state.failed.some((j) => j.package === pkg && same(targetOf(j), target));
    if (gaveUp && openJobs.length === 0) continue;
    if ((nothingToDo && openJobs.length === 0) || (pending && openJobs.length === 1)) continue;
    actions.push({
      package: pkg,
      cancelOpen: openJobs.length > 0,
      create: nothingToDo
        ? null
        : {
            kind: target ? 'package' : 'unassign',
            sourceVersion: target?.version ?? has?.version ?? null,
            dps: target?.dps ?? [],
          },
    });
  }
  return actions;
}
