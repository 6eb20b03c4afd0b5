import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { OutpostError } from '../errors/index.js';
import { HEADER } from './protocol.js';

/** How far a request's timestamp may be from the receiver's clock. */
export const SIGNATURE_WINDOW_MS = 5 * 60_000;

export interface SiteKeys {
  privateKey: KeyObject;
  /** SPKI PEM, as exchanged at join. */
  publicKeyPem: string;
}

/** A new Ed25519 key pair for a site install. */
export function generateSiteKeys(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function loadSiteKeys(privateKeyPem: string): SiteKeys {
  const privateKey = createPrivateKey(privateKeyPem);
  return {
    privateKey,
    publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

interface Signed {
  method: string;
  path: string;
  site: string;
  generation: string;
  time: number;
  nonce: string;
  bodySha: string;
}

function canonical(s: Signed): Buffer {
  return Buffer.from(
    [
      'OUTPOST-S2S-1',
      s.method.toUpperCase(),
      s.path,
      s.site,
      s.generation,
      String(s.time),
      s.nonce,
      s.bodySha,
    ].join('\n'),
  );
}

/** Headers that sign a site-to-site request. `bodySha` is the SHA-256 of the exact body bytes. */
export function signRequest(
  keys: SiteKeys,
  from: { site: string; generation: string },
  req: { method: string; path: string; bodySha: string },
  now: number,
): Record<string, string> {
  const s: Signed = { ...req, ...from, time: now, nonce: randomBytes(12).toString('hex') };
  return {
    [HEADER.site]: s.site,
    [HEADER.generation]: s.generation,
    [HEADER.time]: String(s.time),
    [HEADER.nonce]: s.nonce,
    [HEADER.bodySha]: s.bodySha,
    [HEADER.signature]: sign(null, canonical(s), keys.privateKey).toString('base64'),
  };
}

const parsedKeys = new Map<string, KeyObject>();
/** Keys kept parsed: every site of a hierarchy, and the clients that poll one management point most. */
const PARSED_KEYS = 10_000;

/**
 * A peer's (or a client's) key, parsed once: every request of a transfer is signed, and a client
 * asks for its policy every few seconds (parsing the PEM cost as much as checking the signature).
 */
export function publicKeyOf(pem: string): KeyObject {
  let key = parsedKeys.get(pem);
  if (!key) {
    key = createPublicKey(pem);
    if (parsedKeys.size >= PARSED_KEYS) parsedKeys.delete(parsedKeys.keys().next().value ?? '');
    parsedKeys.set(pem, key);
  }
  return key;
}

/** What a receiver holds about a peer it accepts requests from. */
export interface KnownPeer {
  code: string;
  generation: string;
  publicKeyPem: string;
}

/** Remembers nonces seen inside the window, so a captured request cannot be replayed. */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  /** How many nonces are remembered now. */
  get size(): number {
    return this.seen.size;
  }

  checkAndRemember(nonce: string, now: number): boolean {
    // Every nonce is kept for the same time, and a Map iterates in insertion order: the expired ones
    // are at the front, so forgetting them stops at the first that is not (rather than walking all
    // of them on every request once there are many, as a busy management point has).
    for (const [n, expires] of this.seen) {
      if (expires >= now) break;
      this.seen.delete(n);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now + 2 * SIGNATURE_WINDOW_MS);
    return true;
  }
}

/** What is wrong with a refused signature: a stable name to count by and to report. */
export type SignatureFault =
  | 'no-signature'
  | 'unknown-site'
  | 'wrong-generation'
  | 'time-window'
  | 'bad-signature'
  | 'replay'
  | 'body-mismatch';

/** Why a request was refused, and the error to answer it with. */
export interface Refusal {
  fault: SignatureFault;
  error: OutpostError;
}

/** A checked request: its signer and the body hash it signed, or why it was refused. */
export type Verdict = { peer: KnownPeer; bodySha: string } | Refusal;

function refused(fault: SignatureFault, message: string): Refusal {
  const code = fault === 'wrong-generation' ? 'OUTPOST_WRONG_GENERATION' : 'OUTPOST_BAD_SIGNATURE';
  return { fault, error: new OutpostError(code, message) };
}

/**
 * Checks a signed request on its headers alone: the sender is a site we know, of the generation we
 * know, the time is inside the window, the nonce is fresh and the signature verifies over the body
 * hash the request declares. The body itself is not looked at: the receiver checks it against
 * that hash as it arrives (see {@link bodyMismatch}), so an unsigned request is refused before a
 * byte of its body is read.
 */
export function verifyRequest(
  headers: Record<string, string | string[] | undefined>,
  req: { method: string; path: string },
  lookup: (code: string) => KnownPeer | undefined,
  nonces: NonceCache,
  now: number,
): Verdict {
  const h = (name: string) => {
    const v = headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  const site = h(HEADER.site);
  const generation = h(HEADER.generation);
  const time = Number(h(HEADER.time));
  const nonce = h(HEADER.nonce);
  const bodySha = h(HEADER.bodySha);
  const signature = h(HEADER.signature);
  if (!site || !generation || !nonce || !bodySha || !signature || !Number.isFinite(time)) {
    return refused('no-signature', 'site-to-site request is not signed');
  }
  const peer = lookup(site);
  if (!peer) return refused('unknown-site', `request signed by unknown site '${site}'`);
  if (peer.generation !== generation) {
    return refused(
      'wrong-generation',
      `request from ${site} is signed by generation ${generation}, not the current ${peer.generation}`,
    );
  }
  if (Math.abs(now - time) > SIGNATURE_WINDOW_MS) {
    return refused('time-window', `request from ${site} is outside the time window (clock skew or replay)`);
  }
  const ok = verify(
    null,
    canonical({ method: req.method, path: req.path, site, generation, time, nonce, bodySha }),
    publicKeyOf(peer.publicKeyPem),
    Buffer.from(signature, 'base64'),
  );
  if (!ok) return refused('bad-signature', `request from ${site}: signature does not verify`);
  if (!nonces.checkAndRemember(nonce, now)) return refused('replay', `request from ${site} is a replay`);
  return { peer, bodySha };
}

/** The refusal of a body that is not what its signer declared. */
export function bodyMismatch(site: string): Refusal {
  return refused('body-mismatch', `request from ${site}: body does not match its signed hash`);
}
