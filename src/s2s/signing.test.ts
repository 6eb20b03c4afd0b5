import { describe, expect, it } from 'vitest';
import {
  generateSiteKeys,
  type KnownPeer,
  loadSiteKeys,
  NonceCache,
  SIGNATURE_WINDOW_MS,
  sha256Hex,
  signRequest,
  verifyRequest,
} from './signing.js';

const pair = generateSiteKeys();
const keys = loadSiteKeys(pair.privateKeyPem);
const peer: KnownPeer = { code: 'S02', generation: 'g1', publicKeyPem: pair.publicKeyPem };
const lookup = (code: string) => (code === 'S02' ? peer : undefined);
const now = 1_800_000_000_000;
const req = { method: 'POST', path: '/s2s/v1/heartbeat', bodySha: sha256Hex('{}') };

function signed(overrides: Partial<typeof req> = {}, at = now) {
  return signRequest(keys, { site: 'S02', generation: 'g1' }, { ...req, ...overrides }, at);
}

describe('site-to-site signatures', () => {
  it('verifies a good request', () => {
    expect(verifyRequest(signed(), req, lookup, new NonceCache(), now).code).toBe('S02');
  });
  it('rejects a replay of the same request', () => {
    const nonces = new NonceCache();
    const headers = signed();
    verifyRequest(headers, req, lookup, nonces, now);
    expect(() => verifyRequest(headers, req, lookup, nonces, now + 1)).toThrow(/replay/);
  });
  it('rejects a request outside the time window', () => {
    expect(() =>
      verifyRequest(signed({}, now - SIGNATURE_WINDOW_MS - 1), req, lookup, new NonceCache(), now),
    ).toThrow(/time window/);
  });
  it('rejects a changed path or body', () => {
    expect(() =>
      verifyRequest(signed(), { ...req, path: '/s2s/v1/other' }, lookup, new NonceCache(), now),
    ).toThrow(/does not verify/);
    expect(() =>
      verifyRequest(signed(), { ...req, bodySha: sha256Hex('{"x":1}') }, lookup, new NonceCache(), now),
    ).toThrow(/body does not match/);
  });
  it('rejects another key, an unknown site and an old generation', () => {
    const other = loadSiteKeys(generateSiteKeys().privateKeyPem);
    const forged = signRequest(other, { site: 'S02', generation: 'g1' }, req, now);
    expect(() => verifyRequest(forged, req, lookup, new NonceCache(), now)).toThrow(/does not verify/);
    const stranger = signRequest(keys, { site: 'X99', generation: 'g1' }, req, now);
    expect(() => verifyRequest(stranger, req, lookup, new NonceCache(), now)).toThrow(/unknown site 'X99'/);
    const old = signRequest(keys, { site: 'S02', generation: 'g0' }, req, now);
    expect(() => verifyRequest(old, req, lookup, new NonceCache(), now)).toThrow(/generation g0/);
  });
  it('rejects an unsigned request', () => {
    expect(() => verifyRequest({}, req, lookup, new NonceCache(), now)).toThrow(/not signed/);
  });
});
