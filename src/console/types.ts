// The admin API's JSON shapes, as far as the console reads them (PRODUCT.md keeps them a contract:
// fields are added, never renamed). Written out here, not imported, so the browser build stays
// apart from the server's code; test/console-contract.ts fails to compile when the server's
// answers no longer fit them.

export interface SiteView {
  code: string;
  type: string;
  parent: string | null;
  name: string | null;
  url: string | null;
  state: string;
  generation: string | null;
  lastContact: number | null;
  error: string | null;
  relation?: string;
  phases?: { name: string; state: string; at: number; error: string | null }[];
}

export interface Job {
  id: string;
  site: string;
  kind: string;
  package: string | null;
  subject: string | null;
  sourceVersion: number | null;
  dps: string[];
  state: string;
  bytesSent: number;
  bytesTotal: number;
  rate: number | null;
  etaSeconds: number | null;
  attempts: number;
  lastError: string | null;
  waiting: string | null;
  nextAttemptAt: number;
}

export interface Address {
  site: string;
  url: string;
  rateLimitKiBps: number | null;
  schedule: string | null;
  concurrency: number;
  retries: number;
  retryDelayMs: number;
}

export interface Dp {
  dp: string;
  site: string;
  siteState: string;
  name: string | null;
  url: string | null;
  packages: number;
  installed: number;
}

export interface Package {
  id: string;
  name: string;
  sourceVersion: number;
  origin: string;
  files: { path: string; size: number; sha256: string }[];
  size: number;
  createdAt: number;
  updatedAt: number;
}

export interface PackageStatus {
  package: string;
  sourceVersion: number;
  site: string;
  dp: string;
  state: string;
  error: string | null;
  updatedAt: number;
}

export interface StatusMessage {
  seq: number;
  id: string;
  severity: 'info' | 'warning' | 'error';
  component: string;
  site: string;
  text: string;
  package: string | null;
  job: string | null;
  subject: string | null;
  time: number;
}

export interface DeleteSummary {
  site: string;
  dryRun: boolean;
  sites: string[];
  jobs: { id: string; kind: string; package: string | null; state: string }[];
  assignments: { package: string; dp: string }[];
  statuses: number;
  bytesQueued: number;
  address: boolean;
  told: string;
}

export interface CloneResult {
  from: string;
  to: string;
  dryRun: boolean;
  added: string[];
  already: string[];
  skipped: { package: string; reason: string }[];
  bytesMissing: number;
}

export interface RebuildStep {
  step: string;
  frame: string;
  kind: string;
  title: string;
  state: string;
  detail: string | null;
  next: string | null;
  error: string | null;
}

export interface Rebuild {
  id: string;
  site: string;
  state: string;
  steps: RebuildStep[];
  next: string | null;
  joinToken: string | null;
}

export interface DeploymentSummary {
  deployment: string;
  package: string;
  site: string;
  succeeded: number;
  failed: number;
  inProgress: number;
  unknown: number;
  clients: {
    client: string;
    name: string | null;
    state: string;
    exitCode: number | null;
    at: number | null;
  }[];
}

export interface Boundary {
  name: string;
  site: string;
  range: string;
  family: 4 | 6;
  origin: string;
  createdAt: number;
}

export interface PurgeSummary {
  site: string;
  dryRun: boolean;
  removed: Record<string, number>;
  queuedAt: string[];
}

/** The components that log and post status messages (the filter of the messages page). */
export const COMPONENTS = [
  'distmgr',
  'scheduler',
  'sender',
  'despooler',
  'hierman',
  'statmgr',
  'dp',
  'mp',
  'api',
  'rebuild',
] as const;

/** GET /status/summary: a site of this site's subtree, its DPs' packages by state, its backlog. */
export interface SiteSummary extends SiteView {
  packages: Record<string, number>;
  /** Kept by the site's parent: only this site's children have jobs counted here. */
  backlog: { jobs: number; bytes: number; rate: number | null };
}

export interface ClientDeploymentReport {
  deployment: string;
  package: string;
  state: string;
  exitCode: number | null;
  output: string | null;
  at: number;
}

export interface ClientView {
  id: string;
  site: string;
  name: string | null;
  address: string;
  boundary: string;
  registeredAt: number;
  lastSeen: number;
  lastReport: ClientDeploymentReport | null;
}

export interface ClientDetail extends ClientView {
  reports: ClientDeploymentReport[];
}
