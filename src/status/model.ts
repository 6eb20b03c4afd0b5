import type { SiteState, SiteType } from '../db/index.js';

export type Severity = 'info' | 'warning' | 'error';

/** An event from a component, as scripts see it (`status messages --json`). */
export interface StatusMessage {
  id: string;
  severity: Severity;
  component: string;
  site: string;
  text: string;
  package: string | null;
  job: string | null;
  /** The site the message is about when that is not `site`, the site that reported it. */
  subject: string | null;
  time: number;
}

/** A message as it travels up: one from a site that predates `subject` has none, read as null. */
export type ReportedMessage = Omit<StatusMessage, 'subject'> & { subject?: string | null };

export const PACKAGE_STATES = [
  'Install Pending',
  'Install Retrying',
  'Installed',
  'Install Failed',
  'Removal Pending',
  'Removal Retrying',
  'Removal Failed',
] as const;
export type PackageState = (typeof PACKAGE_STATES)[number];

/** Package status per (package, DP). `Removed` is never stored: it deletes the row. */
export interface PackageStatus {
  package: string;
  sourceVersion: number;
  site: string;
  dp: string;
  state: PackageState | 'Removed';
  error: string | null;
  updatedAt: number;
}

/** A site as its parent sees it; replicated up to the central site. */
export interface SiteRecord {
  code: string;
  type: SiteType;
  parent: string | null;
  name: string | null;
  url: string | null;
  state: SiteState;
  generation: string | null;
  lastContact: number | null;
  error: string | null;
  updatedAt: number;
}

/** What travels up the hierarchy, in order, each applied once. */
export type Report =
  | { kind: 'message'; message: ReportedMessage }
  | { kind: 'package-status'; status: PackageStatus }
  | { kind: 'site'; site: SiteRecord }
  /** A `site purge` at a site below: every ancestor removes every trace of `code` too. */
  | { kind: 'purge'; code: string; at: number };
