import type { RebuildState, RebuildStepKind, RebuildStepState } from '../db/index.js';

export const REBUILD_PATHS = ['replace', 'readd'] as const;
export type RebuildPath = (typeof REBUILD_PATHS)[number];

/** What `rebuild plan|start` is given; the folders and the DP URL are names the checklist tells the administrator to use. */
export interface RebuildOptions {
  /** replace: new hardware under the same site (`site replace`); readd: delete the site and add it again. */
  path: RebuildPath;
  /** A folder on the new host holding a copy of the old server's content, a backup or package files. */
  preloadFrom?: string;
  /** A DP (its URL) the new host preloads from over the network. */
  preloadFromDp?: string;
  /** A folder the old host exports its content to before shipping (then preloaded from on the new host). */
  exportTo?: string;
  /** A similar DP whose packages the new site gets too (`dp clone`). */
  cloneFrom?: string;
  /** How long the new host has to join once its token is issued (`site replace|add --join-deadline`). */
  joinDeadline?: string;
}

/** The options as a caller gives them, checked by `rebuild plan|start` (a bad one is refused, exit 2). */
export type RebuildRequest = Partial<Omit<RebuildOptions, 'path'>> & { path?: string };

/** The seed's four time frames. */
export const FRAMES = ['before shipping', 'hardware arrived', 'after reinstall', 'follow-up'] as const;
export type Frame = (typeof FRAMES)[number];

export type StepKey =
  | 'export'
  | 'copy'
  | 'replace'
  | 'delete'
  | 'add'
  | 'join'
  | 'preload'
  | 'reassign'
  | 'clone'
  | 'verify'
  | 'followup';

export interface StepDef {
  step: StepKey;
  frame: Frame;
  kind: RebuildStepKind;
  title: string;
}

/** The folder the new host preloads from, if any: named, or the one the old host exports to. */
export function preloadDir(o: RebuildOptions): string | undefined {
  return o.preloadFrom ?? o.exportTo;
}

/** The steps of a rebuild with these options, in order. */
export function stepsFor(o: RebuildOptions): StepDef[] {
  const steps: StepDef[] = [];
  const add = (step: StepKey, frame: Frame, kind: RebuildStepKind, title: string) =>
    steps.push({ step, frame, kind, title });
  if (o.exportTo) add('export', 'before shipping', 'manual', `export the site's content to ${o.exportTo}`);
  else if (o.preloadFrom)
    add(
      'copy',
      'before shipping',
      'manual',
      `copy the old server's content to ${o.preloadFrom} on the new host`,
    );
  if (o.path === 'replace')
    add('replace', 'hardware arrived', 'auto', 'issue the join token for the new host');
  else {
    add('delete', 'hardware arrived', 'auto', 'delete the site (stops and fences the old host)');
    add('add', 'hardware arrived', 'auto', 'add the site again: join token for the new host');
  }
  add('join', 'hardware arrived', 'manual', 'stop the old host; join and serve on the new host');
  if (preloadDir(o) || o.preloadFromDp)
    add('preload', 'after reinstall', 'manual', 'preload the content on the new host');
  if (o.path === 'readd') add('reassign', 'after reinstall', 'auto', "assign the site's packages again");
  if (o.cloneFrom) add('clone', 'after reinstall', 'auto', `clone the packages of ${o.cloneFrom}`);
  add('verify', 'after reinstall', 'auto', 'verify that only what the new host lacks is sent');
  add('followup', 'follow-up', 'auto', 'every package Installed at the site');
  return steps;
}

/** One step as `rebuild status` shows it. */
export interface StepView extends StepDef {
  state: RebuildStepState;
  startedAt: number | null;
  finishedAt: number | null;
  detail: string | null;
  next: string | null;
  error: string | null;
}

/** What a rebuild found at its start (`rebuild plan` shows the same before anything changes). */
export interface RebuildPlan {
  site: string;
  type: string;
  url: string;
  name: string | null;
  path: RebuildPath;
  /** The generation of the old host, fenced when the new one joins. */
  oldGeneration: string;
  /** The preload source: where, and which packages it is taken to hold. */
  preloadSource: { kind: 'none' | 'folder' | 'dp'; name: string | null; holds: string };
  /** Packages the new host will be sent: assigned to the site's DPs, plus those of --clone-from. */
  packages: number;
  bytesWanted: number;
  /** What of it the preload source is taken to hold. */
  bytesFromPreload: number;
  /** The bytes the new host will lack after the preload: what crosses the link. */
  bytesLacking: number;
  /** The packages it will lack, with their size. */
  lacking: { package: string; sourceVersion: number; bytes: number }[];
  /** The link's configured rate limit and recently measured rate (bytes a second), and which was used. */
  rate: {
    limitBytesPerSecond: number | null;
    measuredBytesPerSecond: number | null;
    basis: 'rate limit' | 'measured' | 'none';
  };
  /** How long sending `bytesLacking` takes at that rate; null without a rate. */
  seconds: number | null;
  /** The address's settings, given back to the site when it is added again (readd). */
  address: {
    rateLimitKiBps: number | null;
    schedule: string | null;
    concurrency: number;
    retries: number;
    retryDelayMs: number;
  } | null;
  /** The site's DP assignments at the start, made again after a readd. */
  assignments: { package: string; dp: string }[];
  steps: StepDef[];
}

/** A rebuild runbook as `rebuild start|status|resume|abort` show it. */
export interface RebuildView {
  id: string;
  site: string;
  state: RebuildState;
  options: RebuildOptions;
  plan: RebuildPlan;
  createdAt: number;
  updatedAt: number;
  steps: StepView[];
  /** What to do next, in a line: the first step not done. */
  next: string | null;
  /** The join token for the new host, while it has not joined (as `site replace|add` print it). */
  joinToken: string | null;
}
