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

/** A peer's key, parsed once: every request of a transfer is signed. */
function publicKeyOf(pem: string): KeyObject {
  let key = parsedKeys.get(pem);
  if (!key) {
    key = createPublicKey(pem);
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

  checkAndRemember(nonce: string, now: number): boolean {
    if (this.seen.size > 10_000) {
      for (const [n, expires] of this.seen) if (expires < now) this.seen.delete(n);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now + 2 * SIGNATURE_WINDOW_MS);
    return true;
  }
}

/**
 * Checks a signed request: the sender is a site we know, of the generation we know, the time is
 * inside the window, the nonce is fresh, the body hash matches and the signature verifies.
 * Returns the sender's code; throws an `unauthorized` error naming what was wrong.
 */
export function verifyRequest(
  headers: Record<string, string | string[] | undefined>,
  req: { method: string; path: string; bodySha: string },
  lookup: (code: string) => KnownPeer | undefined,
  nonces: NonceCache,
  now: number,
): KnownPeer {
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
    throw new OutpostError('OUTPOST_BAD_SIGNATURE', 'site-to-site request is not signed');
  }
  const peer = lookup(site);
  if (!peer) throw new OutpostError('OUTPOST_BAD_SIGNATURE', `request signed by unknown site '${site}'`);
  if (peer.generation !== generation) {
    throw new OutpostError(
      'OUTPOST_WRONG_GENERATION',
      `request from ${site} is signed by generation ${generation}, not the current ${peer.generation}`,
    );
  }
  if (Math.abs(now - time) > SIGNATURE_WINDOW_MS) {
    throw new OutpostError(
      'OUTPOST_BAD_SIGNATURE',
      `request from ${site} is outside the time window (clock skew or replay)`,
    );
  }
  if (bodySha !== req.bodySha)
    throw new OutpostError(
      'OUTPOST_BAD_SIGNATURE',
      `request from ${site}: body does not match its signed hash`,
    );
  const ok = verify(
    null,
    canonical({ method: req.method, path: req.path, site, generation, time, nonce, bodySha }),
    publicKeyOf(peer.publicKeyPem),
    Buffer.from(signature, 'base64'),
  );
  if (!ok) throw new OutpostError('OUTPOST_BAD_SIGNATURE', `request from ${site}: signature does not verify`);
  if (!nonces.checkAndRemember(nonce, now))
    throw new OutpostError('OUTPOST_BAD_SIGNATURE', `request from ${site} is a replay`);
  return peer;
}
