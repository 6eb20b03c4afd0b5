import type { Generated } from 'kysely';

/** Every table of a site's database. Times are epoch milliseconds. */
export interface Database {
  sites: SitesTable;
  site_phases: SitePhasesTable;
  addresses: AddressesTable;
  packages: PackagesTable;
  package_files: PackageFilesTable;
  offered_files: OfferedFilesTable;
  assignments: AssignmentsTable;
  dps: DpsTable;
  deliveries: DeliveriesTable;
  package_status: PackageStatusTable;
  package_status_counts: PackageStatusCountsTable;
  jobs: JobsTable;
  status_messages: StatusMessagesTable;
  outbox: OutboxTable;
  kv: KvTable;
  lease_owners: LeaseOwnersTable;
  leaders: LeadersTable;
  preloaded_chunks: PreloadedChunksTable;
  rebuilds: RebuildsTable;
  rebuild_steps: RebuildStepsTable;
  boundaries: BoundariesTable;
  deployments: DeploymentsTable;
  policy_packages: PolicyPackagesTable;
  clients: ClientsTable;
  deployment_status: DeploymentStatusTable;
  distmgr_marks: DistmgrMarksTable;
}

/** Which way a site row relates to the site that holds it. */
export type SiteRelation = 'self' | 'parent' | 'child' | 'descendant';
export const SITE_TYPES = ['central', 'primary', 'secondary'] as const;
export type SiteType = (typeof SITE_TYPES)[number];
export const SITE_STATES = ['pending', 'installing', 'active', 'unreachable', 'failed', 'deleted'] as const;
export type SiteState = (typeof SITE_STATES)[number];

export interface SitesTable {
  code: string;
  type: SiteType;
  relation: SiteRelation;
  parent_code: string | null;
  name: string | null;
  url: string | null;
  state: SiteState;
  generation: string | null;
  public_key: string | null;
  join_token_hash: string | null;
  /** When the join, or the install phase now running, must have finished. */
  join_expires_at: number | null;
  /** How long the parent waits for the join and for each install phase. */
  join_deadline_ms: number | null;
  last_contact: number | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface SitePhasesTable {
  site_code: string;
  name: string;
  state: string;
  at: number;
  error: string | null;
}

/** The parent→child link: how the sender may use it. */
export interface AddressesTable {
  site_code: string;
  url: string;
  rate_limit_kbps: number | null;
  /** `H-H`: the local hours when sending is allowed; null means always. */
  schedule: string | null;
  concurrency: number;
  retries: number;
  retry_delay_ms: number;
  /**
   * While set, content goes only to this generation of the site (its old host): a new host that
   * has joined waits until a rebuild releases it, after its preload.
   */
  hold_generation: string | null;
  updated_at: number;
}

export interface PackagesTable {
  id: string;
  name: string;
  source_version: number;
  origin_site: string;
  source_path: string | null;
  /** The newest version whose every chunk is held here; only that version is passed on or installed. */
  complete_version: number | null;
  created_at: number;
  updated_at: number;
}

export interface PackageFilesTable {
  package_id: string;
  source_version: number;
  path: string;
  size: number;
  sha256: string;
  /** JSON array of [sha256, size] pairs, in file order. */
  chunks: string;
  /**
   * The chunks (as `chunks`) the same path had in the version this site held before this one, when
   * it was received from the parent: the basis a changed chunk can be sent as a delta against.
   */
  basis_chunks: string | null;
}

/** A file line of an offer being received, staged until the whole offer is known sound. */
export interface OfferedFilesTable {
  /** The offer being received: one id per request. */
  offer: string;
  path: string;
  /** Its line in the offer, to name the first of two lines with one path. */
  line: number;
  size: number;
  sha256: string;
  chunks: string;
  created_at: number;
}

/** A package assigned to a DP somewhere in this site's subtree (or this site's own DP). */
export interface AssignmentsTable {
  package_id: string;
  dp: string;
  site_code: string;
  created_at: number;
  /** How many redistributes the package's origin has asked for at this DP (0 until the first). */
  redistributions: Generated<number>;
}

/** A named DP (`S02/NAME`) of a site at or below this one; a site's default DP has no row. */
export interface DpsTable {
  /** The DP's full name, `CODE/NAME`. */
  dp: string;
  site_code: string;
  /** Where clients download from; null: the site's own URL under `/dps/NAME/`. */
  url: string | null;
  created_at: number;
  updated_at: number;
}

/** What this site has handed to each child: the version and the DP set the child acknowledged. */
export interface DeliveriesTable {
  site_code: string;
  package_id: string;
  source_version: number;
  dps: string;
  updated_at: number;
}

/** Rows of `package_status` per (site, state), kept by triggers (migration 0022); no zero rows. */
export interface PackageStatusCountsTable {
  site_code: string;
  state: string;
  n: number;
}

export interface PackageStatusTable {
  package_id: string;
  dp: string;
  site_code: string;
  source_version: number;
  state: string;
  error: string | null;
  updated_at: number;
}

export type JobKind = 'package' | 'unassign' | 'purge';
export type JobState = 'pending' | 'active' | 'retrying' | 'failed' | 'completed' | 'cancelled';

export interface JobsTable {
  id: string;
  site_code: string;
  kind: JobKind;
  package_id: string | null;
  source_version: number | null;
  /** For a purge job: the site whose every trace the child must remove. */
  subject: string | null;
  /** JSON: the DPs the job carries for the child. */
  dps: string;
  state: JobState;
  bytes_sent: number;
  bytes_total: number;
  attempts: number;
  last_error: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  /** When its current (or last) attempt started. */
  started_at: number | null;
  next_attempt_at: number;
  created_at: number;
  updated_at: number;
}

export interface StatusMessagesTable {
  id: string;
  severity: 'info' | 'warning' | 'error';
  component: string;
  site_code: string;
  text: string;
  package_id: string | null;
  job_id: string | null;
  /** The site the message is about, where that is not the reporting site. */
  subject_site: string | null;
  time: number;
  seq: Generated<number>;
}

export interface OutboxTable {
  seq: Generated<number>;
  kind: 'message' | 'package-status' | 'site' | 'purge' | 'dp' | 'client' | 'deployment-status';
  payload: string;
  created_at: number;
}

export interface KvTable {
  key: string;
  value: string;
}

/** The server process that runs a once-per-site component (`role`) until `expires_at`, unless it renews. */
export interface LeadersTable {
  role: string;
  owner: string;
  expires_at: number;
}

/** A server process of this site that may hold job leases; `seen_at` is renewed while it runs. */
export interface LeaseOwnersTable {
  owner: string;
  host: string;
  pid: number;
  started_at: number;
  seen_at: number;
}

/** A chunk a preload stored for a package version this site may be sent later; kept by garbage collection. */
export interface PreloadedChunksTable {
  sha256: string;
  package_id: string;
  source_version: number;
  created_at: number;
}

export type RebuildState = 'running' | 'done' | 'aborted';
export type RebuildStepKind = 'auto' | 'manual';
export type RebuildStepState = 'pending' | 'running' | 'waiting' | 'done' | 'failed';

/** A rebuild runbook of a child site (`outpost rebuild`); at most one running per site. */
export interface RebuildsTable {
  id: string;
  site_code: string;
  state: RebuildState;
  /** JSON: the options it was started with. */
  options: string;
  /** JSON: what it found at the start (old generation, bytes the new host will lack, …). */
  plan: string;
  created_at: number;
  updated_at: number;
}

/** One step of a rebuild runbook. */
export interface RebuildStepsTable {
  rebuild_id: string;
  step: string;
  ordinal: number;
  /** The seed's time frame the step belongs to. */
  frame: string;
  kind: RebuildStepKind;
  state: RebuildStepState;
  started_at: number | null;
  finished_at: number | null;
  detail: string | null;
  /** What the administrator does next, for a step that waits on a person. */
  next: string | null;
  error: string | null;
  /** JSON: what the step found or made, for the steps after it (e.g. the join token). */
  output: string | null;
}

/** An IP range that maps clients to a site; `first_ip`/`last_ip` are 32 hex digits, comparable as text. */
export interface BoundariesTable {
  name: string;
  site_code: string;
  /** As written, normalised: `10.1.0.0/16`, `10.1.0.1-10.1.0.254`, `fd00::/64`. */
  range: string;
  family: number;
  first_ip: string;
  last_ip: string;
  /** The site where it was made: only there can it be deleted; the others hold it from above. */
  origin_site: string;
  created_at: number;
}

/** A package's program, deployed to the clients of sites, of boundaries, or named clients. */
export interface DeploymentsTable {
  id: string;
  package_id: string;
  command: string;
  workdir: string | null;
  timeout_ms: number;
  /** JSON array of exit codes that mean success. */
  success_codes: string;
  /** 1: a client may use DPs of the sites above its own when its own site lacks the content. */
  fallback: number;
  target_kind: 'site' | 'boundary' | 'client';
  /** JSON array of site codes, boundary names or client ids. */
  targets: string;
  origin_site: string;
  created_at: number;
}

/** A deployed package as the parent last described it: files of its version and the DPs above that hold it. */
export interface PolicyPackagesTable {
  package_id: string;
  name: string;
  source_version: number;
  /** JSON array of {path, size, sha256}. */
  files: string;
  /** JSON array of {dp, site, url}, nearest first. */
  dps: string;
}

/** A client: registered here (with its key), or reported from a site below (without it). */
export interface ClientsTable {
  id: string;
  site_code: string;
  name: string | null;
  /** SPKI PEM; only at the site where the client registered. */
  public_key: string | null;
  address: string;
  /** The boundary that placed it at its site. */
  boundary: string;
  registered_at: number;
  last_seen: number;
  updated_at: number;
}

/** Where a deployment stands on a client, as the client last reported. */
export interface DeploymentStatusTable {
  deployment_id: string;
  client_id: string;
  package_id: string;
  site_code: string;
  state: 'in-progress' | 'succeeded' | 'failed';
  exit_code: number | null;
  output: string | null;
  updated_at: number;
}

/**
 * What changed since distmgr last looked (written by triggers): a child (or any site) and a package
 * ('' for any), the version bumped each time the pair changes again.
 */
export interface DistmgrMarksTable {
  id: Generated<number>;
  site_code: string;
  package_id: string;
  version: Generated<number>;
}
