import { type Static, type TSchema, Type } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { Value } from 'typebox/value';
import { SEVERITIES } from '../common/index.js';
import { assertSha256, MAX_CHUNK } from '../content/index.js';
import { SITE_STATES, SITE_TYPES, type SiteState } from '../db/index.js';
import { OutpostError } from '../errors/index.js';

/**
 * The site-to-site protocol, version 1: its routes, headers, transfer blocks and bodies. Both ends
 * use these, the server to route and validate, the client to call, so they cannot drift apart.
 */
export const S2S = {
  join: '/s2s/v1/join',
  joinCheck: '/s2s/v1/join/check',
  joinProbe: '/s2s/v1/join/probe',
  joinPhase: '/s2s/v1/join/phase',
  registration: '/s2s/v1/sites/:code/registration',
  phases: '/s2s/v1/phases',
  heartbeat: '/s2s/v1/heartbeat',
  siteCheck: '/s2s/v1/sites/check',
  sitePurge: '/s2s/v1/sites/purge',
  deinstall: '/s2s/v1/deinstall',
  reports: '/s2s/v1/reports',
  /** Version 2 of the offer: its body and answer are NDJSON streams (see {@link OfferHeader}). */
  offer: '/s2s/v2/packages/offer',
  blocks: '/s2s/v1/blocks',
  /** A chunk sent as a delta against chunks the child holds (see {@link PatchHeader}). */
  patches: '/s2s/v1/patches',
  assignments: '/s2s/v1/packages/assignments',
  /** A child pulls chunks it found damaged or missing (`content verify --repair`). */
  chunks: '/s2s/v1/packages/chunks',
  /** A child preloading content asks for the manifests of the package versions the hierarchy knows. */
  manifests: '/s2s/v1/packages/manifests',
  /** A parent gives a child the boundaries and deployments its subtree needs (see {@link PolicySnapshot}). */
  policy: '/s2s/v1/policy',
  /** Parent or child: who this site is, proved by a signature over the caller's nonce (`doctor`). */
  identity: '/s2s/v1/identity',
  /** A parent asks for `doctor` of this site or of a site below it (see {@link DoctorBody}). */
  doctor: '/s2s/v1/doctor',
} as const;
export type S2SPath = (typeof S2S)[keyof typeof S2S];

/** The path at which a parent says whether it knows site `code`. */
export function registrationPath(code: string): string {
  return S2S.registration.replace(':code', encodeURIComponent(code));
}

/** What a parent answers at {@link registrationPath}. */
export interface Registration {
  parent: string;
  code: string;
  known: boolean;
  state?: SiteState;
  /** The generation the parent accepts for the site: an install of another one has been replaced. */
  generation?: string;
}

export const HEADER = {
  site: 'x-outpost-site',
  generation: 'x-outpost-generation',
  time: 'x-outpost-time',
  nonce: 'x-outpost-nonce',
  bodySha: 'x-outpost-body-sha256',
  signature: 'x-outpost-signature',
  /** A transfer block's chunk list; the block's signature covers it instead of the body. */
  chunks: 'x-outpost-chunks',
  /** A patch's chunk, size, block size and basis; its signature covers it instead of the body. */
  patch: 'x-outpost-patch',
} as const;

/** The most a transfer block (one signed PUT, acknowledged on its own) may hold. */
export const TRANSFER_BLOCK = 8 * 1024 * 1024;
/**
 * The most of one job a sender has on the way and not acknowledged: the blocks in flight together
 * (a lone block larger than this, a single chunk over TRANSFER_BLOCK, goes alone). It is what a
 * kill -9 of either side can cost in re-sent bytes. Four blocks: enough that receiving, hashing,
 * writing and syncing at the child overlap with sending at the parent (one block being synced,
 * one hashed, two on the wire), and small enough that a crash on a 10 Mbit/s branch link costs
 * under half a minute of re-sending and a job holds at most this much (plus one block read ahead)
 * in memory.
 */
export const TRANSFER_WINDOW = 4 * TRANSFER_BLOCK;
/**
 * The most chunks a transfer block may list: the list travels in a header, and Node refuses a
 * request whose headers exceed 16 KiB (128 entries of 72 characters are 9 KiB).
 */
export const BLOCK_CHUNKS = 128;

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The most a body of each route may hold: what its schema admits, with room for JSON escapes. A
 * batch of status reports is at most 500 (the forwarder's batch) with fields of up to 4096
 * characters; a block, its chunk list. An offer is streamed, never held (see {@link OFFER_LIMIT}).
 */
export const BODY_LIMIT: Record<S2SPath, number> = {
  [S2S.join]: 16 * KiB,
  [S2S.joinCheck]: 2 * KiB,
  [S2S.joinProbe]: 2 * KiB,
  [S2S.joinPhase]: 32 * KiB,
  [S2S.registration]: 1 * KiB,
  [S2S.phases]: 32 * KiB,
  [S2S.heartbeat]: 1 * KiB,
  [S2S.siteCheck]: 1 * KiB,
  [S2S.sitePurge]: 1 * KiB,
  [S2S.deinstall]: 1 * KiB,
  [S2S.reports]: 16 * MiB,
  [S2S.offer]: 512 * MiB,
  [S2S.blocks]: TRANSFER_BLOCK + MAX_CHUNK,
  [S2S.patches]: MAX_CHUNK + 64 * KiB,
  [S2S.assignments]: 1 * MiB,
  [S2S.chunks]: 16 * KiB,
  [S2S.manifests]: 1 * MiB,
  [S2S.policy]: 32 * MiB,
  [S2S.identity]: 1 * KiB,
  [S2S.doctor]: 1 * KiB,
};

/** One chunk of a transfer block, in the order the block's body carries them. */
export interface BlockChunk {
  sha: string;
  size: number;
}

/**
 * Groups chunks into transfer blocks of at most TRANSFER_BLOCK bytes and BLOCK_CHUNKS chunks (a
 * lone larger chunk is its own block), in their order.
 */
export function planBlocks<T extends { size: number }>(chunks: readonly T[]): T[][] {
  const blocks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const c of chunks) {
    if (current.length > 0 && (bytes + c.size > TRANSFER_BLOCK || current.length === BLOCK_CHUNKS)) {
      blocks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(c);
    bytes += c.size;
  }
  if (current.length) blocks.push(current);
  return blocks;
}

/** Writes a block's chunk list header: `sha:size,sha:size,…`. */
export function encodeBlockList(list: readonly BlockChunk[]): string {
  return list.map((c) => `${c.sha}:${c.size}`).join(',');
}

/**
 * What a patch rebuilds: the chunk and its size, from the delta in the body applied to the basis
 * chunks (joined in order) in blocks of `block` bytes. Travels in {@link HEADER}.patch.
 */
export interface PatchHeader {
  sha: string;
  size: number;
  block: number;
  basis: string[];
}

/** Writes a patch header: `sha:size:block:basis+basis+…`. */
export function encodePatchHeader(p: PatchHeader): string {
  return `${p.sha}:${p.size}:${p.block}:${p.basis.join('+')}`;
}

/** Parses a patch header, refusing a bad hash, an impossible size or too large a basis. */
export function parsePatchHeader(header: string): PatchHeader {
  const [sha = '', size, block, basis = ''] = header.split(':');
  const bad = (why: string) => new OutpostError('OUTPOST_BAD_INPUT', `patch header: ${why}`);
  assertSha256(sha);
  const n = Number(size);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CHUNK) throw bad(`impossible chunk size ${size}`);
  const b = Number(block);
  if (!Number.isInteger(b) || b < 64 || b > MAX_CHUNK) throw bad(`impossible block size ${block}`);
  const list = basis.split('+');
  if (list.length > MAX_BASIS_CHUNKS) throw bad(`more than ${MAX_BASIS_CHUNKS} basis chunks`);
  for (const c of list) assertSha256(c);
  return { sha, size: n, block: b, basis: list };
}

/** Parses a block's chunk list header, refusing a bad hash, an impossible size or an oversized block. */
export function parseBlockList(header: string): BlockChunk[] {
  const list = header.split(',').map((item) => {
    const [sha, size] = item.split(':');
    const n = Number(size);
    assertSha256(sha ?? '');
    if (!Number.isInteger(n) || n < 1 || n > MAX_CHUNK)
      throw new OutpostError(
        'OUTPOST_BAD_INPUT',
        `chunk ${String(sha).slice(0, 12)} has an impossible size ${size}`,
      );
    return { sha, size: n };
  });
  const total = list.reduce((sum, c) => sum + c.size, 0);
  if (list.length > BLOCK_CHUNKS)
    throw new OutpostError(
      'OUTPOST_TOO_LARGE',
      `block of ${list.length} chunks lists more than ${BLOCK_CHUNKS}`,
    );
  if (list.length === 0 || total > TRANSFER_BLOCK + MAX_CHUNK)
    throw new OutpostError('OUTPOST_TOO_LARGE', `block of ${total} bytes is larger than a transfer block`);
  return list;
}

const Str = (maxLength: number) => Type.String({ maxLength });
const Nullable = <T extends TSchema>(t: T) => Type.Union([Type.Null(), t]);

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

/** An event from a component, as scripts see it (`status messages --json`). */
const StatusMessageSchema = Type.Object({
  id: Str(64),
  severity: Type.Enum(SEVERITIES),
  component: Str(32),
  site: Str(8),
  text: Str(4096),
  package: Nullable(Str(16)),
  job: Nullable(Str(64)),
  /** Absent from a site that predates it; read as null. */
  subject: Type.Optional(Nullable(Str(8))),
  time: Type.Integer(),
});
/** A status message as it travels up the hierarchy. */
export type ReportedMessage = Static<typeof StatusMessageSchema>;

/** Package status per (package, DP). `Removed` is never stored: it deletes the row. */
const PackageStatusSchema = Type.Object({
  package: Str(16),
  sourceVersion: Type.Integer(),
  site: Str(8),
  dp: Str(64),
  state: Type.Enum([...PACKAGE_STATES, 'Removed']),
  error: Nullable(Str(4096)),
  updatedAt: Type.Integer(),
});
export type PackageStatus = Static<typeof PackageStatusSchema>;

/** A site as its parent sees it; replicated up to the central site. */
const SiteRecordSchema = Type.Object({
  code: Str(8),
  type: Type.Enum(SITE_TYPES),
  parent: Nullable(Str(8)),
  name: Nullable(Str(200)),
  url: Nullable(Str(2048)),
  state: Type.Enum(SITE_STATES),
  generation: Nullable(Str(64)),
  lastContact: Nullable(Type.Integer()),
  error: Nullable(Str(4096)),
  updatedAt: Type.Integer(),
});
export type SiteRecord = Static<typeof SiteRecordSchema>;

/**
 * A named DP of a site, as the site reports it up to every ancestor (where packages may be
 * assigned to it); `removed` drops it there with its assignments and status.
 */
const DpRecordSchema = Type.Object({
  dp: Str(64),
  site: Str(8),
  url: Nullable(Str(2048)),
  removed: Type.Boolean(),
  updatedAt: Type.Integer(),
});
export type DpRecord = Static<typeof DpRecordSchema>;

/**
 * A client as the site whose boundary placed it records it: reported up to every ancestor, so they
 * can count the clients a deployment targets. Its key stays at its site.
 */
const ClientRecordSchema = Type.Object({
  id: Str(16),
  site: Str(8),
  name: Nullable(Str(200)),
  address: Str(64),
  boundary: Str(128),
  registeredAt: Type.Integer(),
  updatedAt: Type.Integer(),
});
export type ClientRecord = Static<typeof ClientRecordSchema>;

/** Where one deployment stands on one client, as the client last reported it to its site's MP. */
const DeploymentStatusSchema = Type.Object({
  deployment: Str(16),
  package: Str(16),
  client: Str(16),
  site: Str(8),
  state: Type.Enum(['in-progress', 'succeeded', 'failed']),
  exitCode: Nullable(Type.Integer()),
  output: Nullable(Str(4096)),
  updatedAt: Type.Integer(),
});
export type DeploymentStatus = Static<typeof DeploymentStatusSchema>;

/**
 * What travels up the hierarchy, in order, each applied once. A `purge` is a `site purge` at a site
 * below: every ancestor removes every trace of `code` too.
 */
const ReportSchema = Type.Union([
  Type.Object({ kind: Type.Literal('message'), message: StatusMessageSchema }),
  Type.Object({ kind: Type.Literal('package-status'), status: PackageStatusSchema }),
  Type.Object({ kind: Type.Literal('site'), site: SiteRecordSchema }),
  Type.Object({ kind: Type.Literal('purge'), code: Str(8), at: Type.Integer() }),
  Type.Object({ kind: Type.Literal('dp'), dp: DpRecordSchema }),
  Type.Object({ kind: Type.Literal('client'), client: ClientRecordSchema }),
  Type.Object({ kind: Type.Literal('deployment-status'), status: DeploymentStatusSchema }),
]);
export type Report = Static<typeof ReportSchema>;

/** Whether a value received from a child is a report this site can read. */
export function isReport(value: unknown): value is Report {
  return Value.Check(ReportSchema, value);
}

/** The reports of a batch are checked one by one (see {@link isReport}), not as a whole. */
export const ReportsBody = Type.Object({ reports: Type.Array(Type.Unknown(), { maxItems: 5000 }) });

/** The type of a body or answer streamed as newline-delimited JSON, one value a line. */
export const NDJSON = 'application/x-ndjson';

/**
 * What an offer may carry. An offer is a stream: its memory cost at either end is one line, so its
 * body limit (in {@link BODY_LIMIT}) bounds what the child stages on disk, not what it holds: 200,000
 * files with paths of up to 1 KiB and chunk lists for packages of a few TiB. One line is one file's
 * entry; its chunk list grows with the file's size (about 76 bytes a chunk of at least 256 KiB).
 */
export const OFFER_LIMIT = { files: 200_000, lineBytes: 64 * MiB } as const;

const Sha = Type.String({ pattern: '^[0-9a-f]{64}$' });

/**
 * The first line of an offer: the job, the package version and how many file lines follow. The
 * body is `header \n file \n file …`, each line one JSON value; the signature covers the whole
 * body, so the child acts on none of it before the last byte matched the signed hash.
 */
export const OfferHeader = Type.Object({
  job: Str(64),
  id: Str(16),
  name: Str(200),
  sourceVersion: Type.Integer({ minimum: 1 }),
  origin: Str(8),
  files: Type.Integer({ minimum: 0, maximum: OFFER_LIMIT.files }),
});
export type OfferHeader = Static<typeof OfferHeader>;
/** A package version as it is offered, without its files. */
export type ManifestHeader = Omit<OfferHeader, 'job'>;

/** One file line of an offer: a file of the package and its chunks, in order. */
export const OfferFile = Type.Object({
  path: Str(1024),
  size: Type.Integer({ minimum: 0 }),
  sha256: Sha,
  chunks: Type.Array(Type.Tuple([Sha, Type.Integer({ minimum: 1, maximum: MAX_CHUNK })])),
});

/** The most chunks a delta's basis may join, and the most bytes they may hold together. */
export const MAX_BASIS_CHUNKS = 16;
export const MAX_BASIS_BYTES = 2 * MAX_CHUNK;
/** A signature of {@link MAX_BASIS_BYTES} in blocks of at least 1 KiB (8 bytes a block), in base64. */
const MAX_SIGNATURE_BASE64 = Math.ceil(((MAX_BASIS_BYTES / 1024) * 8 + 4) / 3) * 4;

/**
 * One line of the answer to an offer: a chunk the child lacks, or the last line, which counts the
 * chunk lines before it. An answer without its last line was cut short.
 */
export const OfferAnswerLine = Type.Union([
  Type.Object({
    missing: Sha,
    /**
     * Chunks the child holds where this one goes in the file (the same path's older version), and
     * the base64 signature of their bytes back to back: the parent may send a delta against them.
     */
    basis: Type.Optional(Type.Array(Sha, { minItems: 1, maxItems: MAX_BASIS_CHUNKS })),
    signature: Type.Optional(Type.String({ maxLength: MAX_SIGNATURE_BASE64 })),
  }),
  Type.Object({ end: Type.Integer({ minimum: 0 }) }),
]);
export type OfferAnswerLine = Static<typeof OfferAnswerLine>;

/** The body of {@link S2S.manifests}: the packages wanted, or every one when empty. */
export const ManifestsBody = Type.Object({ ids: Type.Array(Str(16), { maxItems: 10_000 }) });

/** One package version in the answer to {@link S2S.manifests}. */
export const KnownManifest = Type.Object({
  id: Str(16),
  name: Str(200),
  sourceVersion: Type.Integer({ minimum: 1 }),
  origin: Str(8),
  files: Type.Array(OfferFile, { maxItems: OFFER_LIMIT.files }),
});
export type KnownManifest = Static<typeof KnownManifest>;
export const ManifestsAnswer = Type.Object({ packages: Type.Array(KnownManifest) });

/** One value as a line of an NDJSON stream. */
export function ndjsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/**
 * Reads one line of an NDJSON stream as a value of `schema`; `what` names the line in the error
 * that refuses anything else.
 */
export function readLine<T extends TSchema>(schema: T, line: string, what: string): Static<T> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new OutpostError('OUTPOST_BAD_INPUT', `${what} is not valid JSON`);
  }
  const validator = validatorOf(schema);
  if (!validator.Check(value)) {
    const first = validator.Errors(value)[0];
    const where = first?.instancePath ? ` at ${first.instancePath}` : '';
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `${what} is not valid${where}: ${first?.message ?? 'wrong shape'}`,
    );
  }
  return value as Static<T>;
}

/** Line schemas compiled once: a stream of 200,000 lines checks each against compiled code. */
const validators = new WeakMap<TSchema, Validator>();

function validatorOf(schema: TSchema): Validator {
  let validator = validators.get(schema);
  if (!validator) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  return validator;
}

export const AssignmentsBody = Type.Object({
  job: Str(64),
  package: Str(16),
  sourceVersion: Nullable(Type.Integer()),
  dps: Type.Array(Str(64), { maxItems: 10_000 }),
  /**
   * DP → how many redistributes the origin has asked for there. A site that receives a higher count
   * than it holds makes its own way to that DP again. Absent from a parent that predates it.
   */
  redistributions: Type.Optional(
    Type.Record(Type.String({ maxLength: 64 }), Type.Integer({ minimum: 0 }), { maxProperties: 10_000 }),
  ),
});

/**
 * Chunks a child asks its parent for: of one package it holds for a DP at or below it, at most a
 * transfer block's worth. The answer is a block: chunks back to back, listed in {@link HEADER}.chunks;
 * a chunk the parent cannot give (not of the package, or not sound there) is left out of the list.
 */
export const ChunksBody = Type.Object({
  package: Str(16),
  chunks: Type.Array(Type.String({ pattern: '^[0-9a-f]{64}$' }), { minItems: 1, maxItems: BLOCK_CHUNKS }),
});

const Token = Str(200);
const phaseReport = {
  phase: Str(32),
  state: Type.Enum(['running', 'done', 'failed']),
  error: Type.Optional(Str(4096)),
};
/** An install phase reported by a registered child (signed). */
export const PhaseReportBody = Type.Object(phaseReport);
export type PhaseReport = Static<typeof PhaseReportBody>;
export type PhaseState = PhaseReport['state'];
/** An install phase reported before registration: the join token vouches for the site. */
export const JoinPhaseBody = Type.Object({ token: Token, ...phaseReport });

export const JoinCheckBody = Type.Object({ token: Token });
export const JoinProbeBody = Type.Object({ token: Token, nonce: Str(64) });
export const JoinBody = Type.Object({ token: Token, publicKeyPem: Str(4096), generation: Str(64) });
export type JoinRequest = Static<typeof JoinBody>;

/** Names one site: the body of `sites/check` and `sites/purge`, the parameter of the registration path. */
export const OneSite = Type.Object({ code: Str(8) });

/** The body of {@link S2S.identity}: a fresh random value the answer's proof signs. */
export const IdentityBody = Type.Object({ nonce: Type.String({ pattern: '^[0-9a-f]{16,64}$' }) });

/** What a site answers at {@link S2S.identity}. */
export interface IdentityAnswer {
  code: string;
  generation: string;
  /** SPKI PEM of the key it signs with. */
  publicKey: string;
  /** Base64 Ed25519 signature of {@link identityProof} with that key. */
  proof: string;
  /** Its clock, epoch ms. */
  time: number;
}

/** The bytes an identity proof signs: the caller's nonce bound to the answering site and generation. */
export function identityProof(nonce: string, code: string, generation: string): Buffer {
  return Buffer.from(['OUTPOST-IDENTITY-1', nonce, code, generation].join('\n'));
}

/** The body of {@link S2S.doctor}: the site to check (this one or one below it) and whether fully. */
export const DoctorBody = Type.Object({ site: Str(8), full: Type.Boolean() });

/** A boundary as it travels down: the range as written, the site it maps to, where it was made. */
export const BoundaryRecord = Type.Object({
  name: Str(128),
  site: Str(8),
  range: Str(100),
  origin: Str(8),
  createdAt: Type.Integer(),
});
export type BoundaryRecord = Static<typeof BoundaryRecord>;

export const TARGET_KINDS = ['site', 'boundary', 'client'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** A deployment as it travels down: a package's program for the clients of sites, boundaries or ids. */
export const DeploymentRecord = Type.Object({
  id: Str(16),
  package: Str(16),
  program: Type.Object({
    command: Str(4096),
    workdir: Nullable(Str(1024)),
    timeoutMs: Type.Integer({ minimum: 1000 }),
    successCodes: Type.Array(Type.Integer(), { minItems: 1, maxItems: 64 }),
  }),
  fallback: Type.Boolean(),
  target: Type.Object({
    kind: Type.Enum(TARGET_KINDS),
    values: Type.Array(Str(128), { minItems: 1, maxItems: 10_000 }),
  }),
  origin: Str(8),
  createdAt: Type.Integer(),
});
export type DeploymentRecord = Static<typeof DeploymentRecord>;

/**
 * A deployed package version as the parent knows it: its files, and the DPs at the parent and above
 * that hold that version Installed, nearest first (a client uses them only with `fallback`).
 */
export const PolicyPackage = Type.Object({
  id: Str(16),
  name: Str(200),
  sourceVersion: Type.Integer({ minimum: 1 }),
  files: Type.Array(Type.Object({ path: Str(1024), size: Type.Integer({ minimum: 0 }), sha256: Sha }), {
    maxItems: OFFER_LIMIT.files,
  }),
  dps: Type.Array(Type.Object({ dp: Str(64), site: Str(8), url: Str(2048) }), { maxItems: 1000 }),
});
export type PolicyPackage = Static<typeof PolicyPackage>;

/**
 * `POST /s2s/v1/policy`, parent → child: every boundary and deployment made above the child that its
 * subtree needs, whole each time (the child replaces what it holds from above with it), and the
 * packages those deployments install.
 */
export const PolicySnapshot = Type.Object({
  boundaries: Type.Array(BoundaryRecord, { maxItems: 100_000 }),
  deployments: Type.Array(DeploymentRecord, { maxItems: 100_000 }),
  packages: Type.Array(PolicyPackage, { maxItems: 10_000 }),
});
export type PolicySnapshot = Static<typeof PolicySnapshot>;
