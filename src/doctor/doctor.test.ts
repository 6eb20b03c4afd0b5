import { verify } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { freePort } from '../demo/index.js';
import type { ErrorBody } from '../errors/index.js';
import {
  generateSiteKeys,
  type IdentityAnswer,
  identityProof,
  loadSiteKeys,
  S2S,
  SIGNATURE_WINDOW_MS,
  sha256Hex,
  signRequest,
} from '../s2s/index.js';
import { type RunningSite, startSite } from '../server/index.js';
import { initCentral } from '../sites/index.js';
import { sample } from './dp.js';
import { type DoctorResult, type OpenJob, PEER_CALL_MS } from './index.js';
import { clockVerdict, resultOf, stuckJobs } from './model.js';

const job = (over: Partial<OpenJob>): OpenJob => ({
  id: 'abcdef12-0000-4000-8000-000000000000',
  site: 'S02',
  state: 'active',
  attempts: 1,
  retries: 5,
  leaseExpiresAt: null,
  updatedAt: 0,
  ...over,
});

describe('doctor verdicts', () => {
  const now = 10_000_000;
  const grace = 60_000;

  it('calls an active job stuck only once its lease ran out longer ago than the grace', () => {
    expect(stuckJobs([job({ leaseExpiresAt: now - grace + 1 })], now, grace)).toEqual([]);
    expect(stuckJobs([job({ leaseExpiresAt: now + 5000 })], now, grace)).toEqual([]);
    const [stuck] = stuckJobs(
      [job({ leaseExpiresAt: now - grace - 1, updatedAt: now - 2 * grace })],
      now,
      grace,
    );
    expect(stuck?.reason).toMatch(
      /^active with no progress since .*; its lease ran out at .* and nobody took it back$/,
    );
  });

  it('calls a waiting job stuck when it has used more attempts than its address allows', () => {
    expect(stuckJobs([job({ state: 'retrying', attempts: 5, retries: 5 })], now, grace)).toEqual([]);
    expect(stuckJobs([job({ state: 'pending', attempts: 0, retries: null })], now, grace)).toEqual([]);
    const [stuck] = stuckJobs([job({ state: 'retrying', attempts: 7, retries: 5 })], now, grace);
    expect(stuck?.reason).toMatch(
      /after 7 attempts, the most its address allows \(1 \+ 5 retries\): it should have failed/,
    );
  });

  it('warns of clock skew above 30 s and fails it past the signature window, either way', () => {
    expect(clockVerdict('C01 -> S02', 'S02', 29_000).verdict).toBe('ok');
    expect(clockVerdict('C01 -> S02', 'S02', -31_000)).toMatchObject({
      verdict: 'warn',
      hint: expect.any(String),
    });
    const fail = clockVerdict('C01 -> S02', 'S02', -(SIGNATURE_WINDOW_MS + 1000));
    expect(fail).toMatchObject({ verdict: 'fail' });
    expect(fail.detail).toMatch(/^S02's clock is 301\.0s behind/);
    expect(clockVerdict('x', 'S02', 1000)).not.toHaveProperty('hint');
  });

  it('is ok with warnings and not ok with a failure', () => {
    const warn = clockVerdict('t', 'S02', 40_000);
    const fail = clockVerdict('t', 'S02', 400_000);
    expect(resultOf('C01', [warn]).ok).toBe(true);
    expect(resultOf('C01', [warn, fail]).ok).toBe(false);
  });

  it('samples distinct items, all of them when there are no more than asked', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const some = sample(items, 10);
    expect(new Set(some).size).toBe(10);
    expect(some.every((i) => items.includes(i))).toBe(true);
    expect(sample(items, 100).sort((a, b) => a - b)).toEqual(items);
  });
});

/** The doctor's routes on a real site server, driven by inject(). */
describe('doctor routes', () => {
  let site: RunningSite;
  let token: string;
  const child = { site: 'S02', generation: 'g-s02' };
  const pair = generateSiteKeys();
  const keys = loadSiteKeys(pair.privateKeyPem);

  beforeAll(async () => {
    const dataDir = join(tempDir('doctor'), 'C01');
    ({ token } = await initCentral({ dataDir, code: 'C01', listen: `127.0.0.1:${await freePort()}` }));
    site = await startSite(dataDir);
    const now = site.ctx.clock.now();
    // A child that never answers: nothing listens on port 9.
    await insertChildSite(site.ctx.db, {
      code: child.site,
      name: child.site,
      url: 'http://127.0.0.1:9',
      generation: child.generation,
      public_key: pair.publicKeyPem,
      last_contact: now,
      created_at: now,
      updated_at: now,
    });
    await site.ctx.db
      .insertInto('addresses')
      .values({
        site_code: 'S02',
        url: 'http://127.0.0.1:9',
        rate_limit_kbps: null,
        schedule: null,
        concurrency: 1,
        retries: 1,
        retry_delay_ms: 1000,
        hold_generation: null,
        updated_at: now,
      })
      .execute();
  });
  afterAll(async () => {
    await site?.stop();
  });

  const admin = (url: string) =>
    site.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` } });
  const signed = (path: string, body: unknown) => {
    const payload = JSON.stringify(body);
    return site.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/json',
        ...signRequest(keys, child, { method: 'POST', path, bodySha: sha256Hex(payload) }, Date.now()),
      },
      payload,
    });
  };

  it('refuses a malformed --site 400 and one outside the subtree 404', async () => {
    const bad = await admin('/doctor?site=s0!');
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as ErrorBody).error.message).toMatch(/--site/);
    const outside = await admin('/doctor?site=S09');
    expect(outside.statusCode).toBe(404);
    expect((outside.json() as ErrorBody).error).toMatchObject({
      code: 'OUTPOST_SITE_NOT_FOUND',
      message: 'site S09 is not C01 or a site below it',
    });
  });

  it('fails the sender link to a child that does not answer, and nothing else', async () => {
    const res = await admin('/doctor');
    expect(res.statusCode).toBe(200);
    const result = res.json() as DoctorResult;
    expect(result.ok).toBe(false);
    expect(result.checks.filter((c) => c.verdict === 'fail')).toEqual([
      expect.objectContaining({
        check: 'senders',
        target: 'C01 -> S02',
        detail: expect.stringMatching(/ECONNREFUSED/),
      }),
    ]);
  });

  it('gives up on a child that accepts the connection and never answers, after the bounded time', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => {
      sockets.push(socket);
    });
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', () => done()));
    const { port } = silent.address() as AddressInfo;
    await site.ctx.db
      .updateTable('addresses')
      .set({ url: `http://127.0.0.1:${port}` })
      .execute();
    try {
      const started = Date.now();
      const result = (await admin('/doctor')).json() as DoctorResult;
      expect(Date.now() - started).toBeLessThan(PEER_CALL_MS + 3000);
      expect(result.checks.filter((c) => c.verdict === 'fail')).toEqual([
        expect.objectContaining({
          check: 'senders',
          target: 'C01 -> S02',
          detail: `http://127.0.0.1:${port} did not answer within 5s`,
        }),
      ]);
    } finally {
      await site.ctx.db.updateTable('addresses').set({ url: 'http://127.0.0.1:9' }).execute();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => silent.close(() => done()));
    }
  });

  it('answers a child its identity, proved over the nonce with the key the child holds for it', async () => {
    const nonce = '00112233445566778899aabbccddeeff';
    const res = await signed(S2S.identity, { nonce });
    expect(res.statusCode).toBe(200);
    const answer = res.json() as IdentityAnswer;
    expect(answer).toMatchObject({ code: 'C01', generation: site.ctx.config.generation });
    expect(answer.publicKey).toBe(site.ctx.keys.publicKeyPem);
    const proof = Buffer.from(answer.proof, 'base64');
    expect(verify(null, identityProof(nonce, 'C01', answer.generation), answer.publicKey, proof)).toBe(true);
    expect(
      verify(null, identityProof('ff'.repeat(16), 'C01', answer.generation), answer.publicKey, proof),
    ).toBe(false);
  });

  it('refuses an unsigned identity request, and doctor asked by a child', async () => {
    const unsigned = await site.app.inject({
      method: 'POST',
      url: S2S.identity,
      payload: { nonce: 'ab'.repeat(8) },
    });
    expect(unsigned.statusCode).toBe(401);
    const fromChild = await signed(S2S.doctor, { site: 'C01', full: false });
    expect(fromChild.statusCode).toBe(401);
    expect((fromChild.json() as ErrorBody).error.message).toMatch(/must come from the parent site/);
  });
});
