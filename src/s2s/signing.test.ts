import { describe, expect, it } from 'vitest';
import {
  generateSiteKeys,
  type KnownPeer,
  loadSiteKeys,
  NonceCache,
  SIGNATURE_WINDOW_MS,
  sha256Hex,
  signRequest,
  type Verdict,
  verifyRequest,
} from './signing.js';

const pair = generateSiteKeys();
const keys = loadSiteKeys(pair.privateKeyPem);
const peer: KnownPeer = { code: 'S02', generation: 'g1', publicKeyPem: pair.publicKeyPem };
const lookup = (code: string) => (code === 'S02' ? peer : undefined);
const now = 1_800_000_000_000;
const req = { method: 'POST', path: '/s2s/v1/heartbeat' };
const bodySha = sha256Hex('{}');

function signed(overrides: Partial<typeof req> = {}, at = now) {
  return signRequest(keys, { site: 'S02', generation: 'g1' }, { ...req, bodySha, ...overrides }, at);
}

/** The fault and message of a refused verdict. */
function refusal(v: Verdict) {
  return 'fault' in v ? { fault: v.fault, message: v.error.message, code: v.error.code } : v;
}

describe('site-to-site signatures', () => {
  it('verifies a good request and names the body hash it signed', () => {
    expect(verifyRequest(signed(), req, lookup, new NonceCache(), now)).toEqual({ peer, bodySha });
  });
  it('rejects a replay of the same request', () => {
    const nonces = new NonceCache();
    const headers = signed();
    verifyRequest(headers, req, lookup, nonces, now);
    expect(refusal(verifyRequest(headers, req, lookup, nonces, now + 1))).toMatchObject({
      fault: 'replay',
      message: expect.stringMatching(/replay/),
    });
  });
  it('rejects a request outside the time window', () => {
    const old = signed({}, now - SIGNATURE_WINDOW_MS - 1);
    expect(refusal(verifyRequest(old, req, lookup, new NonceCache(), now))).toMatchObject({
      fault: 'time-window',
      message: expect.stringMatching(/time window/),
    });
  });
  it('rejects a changed path or declared body hash', () => {
    const moved = verifyRequest(signed(), { ...req, path: '/s2s/v1/other' }, lookup, new NonceCache(), now);
    expect(refusal(moved)).toMatchObject({ fault: 'bad-signature' });
    const headers = { ...signed(), 'x-outpost-body-sha256': sha256Hex('{"x":1}') };
    expect(refusal(verifyRequest(headers, req, lookup, new NonceCache(), now))).toMatchObject({
      fault: 'bad-signature',
      message: expect.stringMatching(/does not verify/),
    });
  });
  it('rejects another key, an unknown site and an old generation', () => {
    const other = loadSiteKeys(generateSiteKeys().privateKeyPem);
    const forged = signRequest(other, { site: 'S02', generation: 'g1' }, { ...req, bodySha }, now);
    expect(refusal(verifyRequest(forged, req, lookup, new NonceCache(), now))).toMatchObject({
      fault: 'bad-signature',
    });
    const stranger = signRequest(keys, { site: 'X99', generation: 'g1' }, { ...req, bodySha }, now);
    expect(refusal(verifyRequest(stranger, req, lookup, new NonceCache(), now))).toMatchObject({
      fault: 'unknown-site',
      message: expect.stringMatching(/unknown site 'X99'/),
    });
    const old = signRequest(keys, { site: 'S02', generation: 'g0' }, { ...req, bodySha }, now);
    expect(refusal(verifyRequest(old, req, lookup, new NonceCache(), now))).toMatchObject({
      fault: 'wrong-generation',
      code: 'OUTPOST_WRONG_GENERATION',
      message: expect.stringMatching(/generation g0/),
    });
  });
  it('rejects an unsigned request', () => {
    expect(refusal(verifyRequest({}, req, lookup, new NonceCache(), now))).toMatchObject({
      fault: 'no-signature',
      code: 'OUTPOST_BAD_SIGNATURE',
    });
  });
});

describe('nonce cache', () => {
  it('refuses a nonce seen inside twice the window and forgets it after, the expired ones first', () => {
    const nonces = new NonceCache();
    const t0 = 1_000_000;
    for (let i = 0; i < 20_000; i++) expect(nonces.checkAndRemember(`n${i}`, t0 + i)).toBe(true);
    expect(nonces.checkAndRemember('n5', t0 + 30_000)).toBe(false);
    expect(nonces.size).toBe(20_000);
    const later = t0 + 2 * SIGNATURE_WINDOW_MS + 10_000;
    expect(nonces.checkAndRemember('fresh', later)).toBe(true);
    // n0..n9999 expired (each 2 windows after it came); n10000.. still count.
    expect(nonces.size).toBe(10_001);
    expect(nonces.checkAndRemember('n5', later)).toBe(true);
    expect(nonces.checkAndRemember('n15000', later)).toBe(false);
  });
});
