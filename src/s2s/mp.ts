import { createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { type Static, Type } from 'typebox';
import { OutpostError } from '../errors/index.js';
import { type NonceCache, publicKeyOf, SIGNATURE_WINDOW_MS, type SiteKeys, sha256Hex } from './signing.js';

/**
 * The management point protocol, version 1 (`/mp/v1`): what a client agent and a site's MP say to
 * each other. Both ends use these definitions. See docs/MP-PROTOCOL.md.
 */
export const MP = {
  register: '/mp/v1/register',
  policy: '/mp/v1/policy',
  status: '/mp/v1/status',
} as const;
export type MpPath = (typeof MP)[keyof typeof MP];

export const MP_HEADER = {
  client: 'x-outpost-client',
  time: 'x-outpost-time',
  nonce: 'x-outpost-nonce',
  bodySha: 'x-outpost-body-sha256',
  signature: 'x-outpost-signature',
} as const;

/** The most an MP request body may hold. */
export const MP_BODY_LIMIT = 16 * 1024;

/**
 * A client's id: the first 16 hex digits of the SHA-256 of its public key (DER, SPKI). The same key
 * always gets the same id, so registering again (at a rebuilt site, or another site) keeps it.
 */
export function clientIdOf(publicKeyPem: string): string {
  let der: Buffer;
  try {
    der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  } catch {
    throw new OutpostError('OUTPOST_BAD_INPUT', 'publicKey is not a PEM public key');
  }
  return sha256Hex(der).slice(0, 16);
}

function canonical(s: {
  method: string;
  path: string;
  client: string;
  time: number;
  nonce: string;
  bodySha: string;
}): Buffer {
  return Buffer.from(
    ['OUTPOST-MP-1', s.method.toUpperCase(), s.path, s.client, String(s.time), s.nonce, s.bodySha].join('\n'),
  );
}

/** Headers that sign a client's request to an MP with its Ed25519 key; `body` is the exact body sent. */
export function signClientRequest(
  keys: Pick<SiteKeys, 'privateKey'>,
  client: string,
  req: { method: string; path: string; body: string },
  now: number,
): Record<string, string> {
  const s = {
    method: req.method,
    path: req.path,
    client,
    time: now,
    nonce: randomBytes(12).toString('hex'),
    bodySha: sha256Hex(req.body),
  };
  return {
    [MP_HEADER.client]: client,
    [MP_HEADER.time]: String(now),
    [MP_HEADER.nonce]: s.nonce,
    [MP_HEADER.bodySha]: s.bodySha,
    [MP_HEADER.signature]: sign(null, canonical(s), keys.privateKey).toString('base64'),
  };
}

/** A client request whose headers verified: who signed it and the body hash it declared. */
export interface SignedClientRequest {
  client: string;
  bodySha: string;
}

/**
 * Checks a client's signed request on its headers: the signer is `client` (whose key `keyOf` gives),
 * the time is inside the window, the signature verifies over the declared body hash, and the nonce
 * is fresh. The caller checks the body against the hash. Throws a 401 error otherwise.
 */
export function verifyClientRequest(
  headers: Record<string, string | string[] | undefined>,
  req: { method: string; path: string },
  keyOf: (client: string) => string | undefined,
  nonces: NonceCache,
  now: number,
): SignedClientRequest {
  const h = (name: string) => {
    const v = headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  const client = h(MP_HEADER.client);
  const time = Number(h(MP_HEADER.time));
  const nonce = h(MP_HEADER.nonce);
  const bodySha = h(MP_HEADER.bodySha);
  const signature = h(MP_HEADER.signature);
  if (!client || !nonce || !bodySha || !signature || !Number.isFinite(time))
    throw new OutpostError('OUTPOST_BAD_SIGNATURE', 'management point request is not signed');
  const pem = keyOf(client);
  if (!pem)
    throw new OutpostError(
      'OUTPOST_CLIENT_NOT_REGISTERED',
      `client ${client} is not registered at this site`,
      {
        hint: `register again (POST ${MP.register}); the same key keeps the same id`,
      },
    );
  if (Math.abs(now - time) > SIGNATURE_WINDOW_MS)
    throw new OutpostError(
      'OUTPOST_BAD_SIGNATURE',
      `request from client ${client} is outside the time window`,
    );
  const ok = verify(
    null,
    canonical({ method: req.method, path: req.path, client, time, nonce, bodySha }),
    publicKeyOf(pem),
    Buffer.from(signature, 'base64'),
  );
  if (!ok)
    throw new OutpostError(
      'OUTPOST_BAD_SIGNATURE',
      `request from client ${client}: signature does not verify`,
    );
  if (!nonces.checkAndRemember(`${client}:${nonce}`, now))
    throw new OutpostError('OUTPOST_BAD_SIGNATURE', `request from client ${client} is a replay`);
  return { client, bodySha };
}

const Str = (maxLength: number) => Type.String({ maxLength });

/** `POST /mp/v1/register`, signed with the key it carries. */
export const RegisterBody = Type.Object(
  { publicKey: Str(4096), name: Type.Optional(Str(200)) },
  { additionalProperties: false },
);
export type RegisterBody = Static<typeof RegisterBody>;

export const CLIENT_STATES = ['in-progress', 'succeeded', 'failed'] as const;
export type ClientState = (typeof CLIENT_STATES)[number];

/** The most of a program's output a status report keeps: its tail. */
export const OUTPUT_TAIL = 4096;

/** `POST /mp/v1/status`: where a deployment stands on this client. */
export const StatusBody = Type.Object(
  {
    deployment: Str(16),
    state: Type.Enum(CLIENT_STATES),
    // One schema with both types, not a union: the API coerces types, and in a union null would be
    // read as 0 (integer first) or 0 as null (null first). A value of either type is left as it is.
    exitCode: Type.Optional(
      Type.Unsafe<number | null>({ type: ['integer', 'null'], minimum: -(2 ** 31), maximum: 2 ** 32 }),
    ),
    output: Type.Optional(Str(OUTPUT_TAIL)),
  },
  { additionalProperties: false },
);
export type StatusBody = Static<typeof StatusBody>;

/** Why an MP gives a client no policy (the answer is 200 with `assigned: false`). */
export type Unassigned =
  | { assigned: false; reason: 'outside-boundaries'; address: string; message: string }
  | {
      assigned: false;
      reason: 'other-site';
      address: string;
      site: string;
      /** The MP of the site whose boundary holds the address, when this site knows its URL. */
      mp: string | null;
      message: string;
    };

/** Where a client belongs: its site and the boundary that placed it there. */
export interface Placement {
  assigned: true;
  client: string;
  site: string;
  boundary: string;
  address: string;
}

/** The program a deployment runs. */
export interface Program {
  command: string;
  workdir: string | null;
  timeoutMs: number;
  successCodes: number[];
}

/** A DP that holds a package version: its content is at `url` + file path. */
export interface PolicyDp {
  dp: string;
  site: string;
  url: string;
}

/** One deployment in a client's policy. */
export interface PolicyDeployment {
  id: string;
  program: Program;
  fallback: boolean;
  package: {
    id: string;
    name: string;
    sourceVersion: number;
    files: { path: string; size: number; sha256: string }[];
  };
  /** The client's own site's DPs first, then (with fallback) its ancestors', nearest first. */
  dps: PolicyDp[];
  /** What this client last reported for it, if anything. */
  last: { state: ClientState; exitCode: number | null; at: number } | null;
}

/** `GET /mp/v1/policy` for a client inside this site's boundaries. */
export type Policy = Placement & { deployments: PolicyDeployment[] };
