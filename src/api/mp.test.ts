import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import { freePort, waitFor } from '../demo/index.js';
import type { ErrorBody } from '../errors/index.js';
import {
  acceptPolicy,
  type BoundaryView,
  type ClientDetail,
  type ClientView,
  type DeploymentSummary,
  type DeploymentView,
  snapshotFor,
} from '../mp/index.js';
import type { PackageView } from '../packages/index.js';
import {
  clientIdOf,
  generateSiteKeys,
  loadSiteKeys,
  MP,
  type Placement,
  type Policy,
  signClientRequest,
  type Unassigned,
} from '../s2s/index.js';
import { type RunningSite, startSite } from '../server/index.js';
import { initCentral } from '../sites/index.js';
import type { PackageStatus } from '../status/index.js';

/** A client agent in the test: its own Ed25519 key, its id, and the address it calls from. */
function testClient(address: string) {
  const pair = generateSiteKeys();
  return { ...pair, keys: loadSiteKeys(pair.privateKeyPem), id: clientIdOf(pair.publicKeyPem), address };
}
type TestClient = ReturnType<typeof testClient>;

/** The management point of one real site (C01), driven in-process by inject() from chosen addresses. */
describe('management point', () => {
  let site: RunningSite;
  let token: string;
  let pkg: string;
  const inHq = testClient('10.1.0.5');
  const inLab = testClient('10.1.7.50');
  const inV6 = testClient('fd00:1::9');
  const named = testClient('10.1.0.6');

  beforeAll(async () => {
    const dataDir = join(tempDir('mp'), 'C01');
    ({ token } = await initCentral({ dataDir, code: 'C01', listen: `127.0.0.1:${await freePort()}` }));
    site = await startSite(dataDir);
    await insertChildSite(site.ctx.db, {
      code: 'S02',
      url: 'http://127.0.0.1:9',
      generation: 'g-s02',
      public_key: generateSiteKeys().publicKeyPem,
    });
    const source = join(dataDir, '..', 'app');
    mkdirSync(source);
    writeFileSync(join(source, 'setup.sh'), 'echo installed\n');
    pkg = (await admin<PackageView>('POST', '/packages', { name: 'App', source })).body.id;
    await admin('POST', `/packages/${pkg}/assign`, { dps: ['C01'] });
    await waitFor('the package Installed on C01', 30_000, async () => {
      const rows = (await admin<PackageStatus[]>('GET', '/status/packages')).body;
      return rows.some((r) => r.state === 'Installed');
    });
  });
  afterAll(async () => {
    await site?.stop();
  });

  async function admin<T>(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) {
    const res = await site.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { authorization: `Bearer ${token}` },
      payload,
    });
    return { status: res.statusCode, body: res.json() as T };
  }

  /** A request to the MP as `client` signs it (or with `tamper` changing what travels). */
  async function mp<T>(
    client: TestClient,
    method: 'GET' | 'POST',
    path: string,
    body?: object,
    tamper: { body?: string; headers?: Record<string, string>; address?: string } = {},
  ) {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers = signClientRequest(client.keys, client.id, { method, path, body: text }, Date.now());
    const res = await site.app.inject({
      method,
      url: path,
      remoteAddress: tamper.address ?? client.address,
      headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}), ...tamper.headers },
      payload: tamper.body ?? (body ? text : undefined),
    });
    return { status: res.statusCode, body: res.json() as T };
  }
  const register = (c: TestClient, tamper?: Parameters<typeof mp>[4]) =>
    mp<Placement | Unassigned>(c, 'POST', MP.register, { publicKey: c.publicKeyPem, name: 'pc' }, tamper);
  const errorCode = (r: { body: unknown }) => (r.body as ErrorBody).error.code;

  it('boundary add refuses bad input with a 4xx JSON error and changes nothing', async () => {
    const cases: [object, number, string][] = [
      [{ site: 'C01', range: '10.1.2.3/16' }, 400, 'OUTPOST_BAD_INPUT'],
      [{ site: 'C01', range: 'fd00::/200' }, 400, 'OUTPOST_BAD_INPUT'],
      [{ site: 'c1', range: '10.0.0.0/8' }, 400, 'OUTPOST_BAD_SITE_CODE'],
      [{ site: 'Q99', range: '10.0.0.0/8' }, 404, 'OUTPOST_SITE_NOT_FOUND'],
      [{ site: 'C01', range: '10.0.0.0/8', name: 'a b' }, 400, 'OUTPOST_BAD_INPUT'],
    ];
    for (const [body, status, code] of cases) {
      const r = await admin('POST', '/boundaries', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(errorCode(r)).toBe(code);
    }
    expect((await admin<BoundaryView[]>('GET', '/boundaries')).body).toEqual([]);
  });

  it('boundaries of IPv4 and IPv6 for this site and the one below; overlaps allowed, the same range or name twice not', async () => {
    for (const b of [
      { site: 'C01', range: '10.0.0.0/8', name: 'hq' },
      { site: 'C01', range: '10.1.7.10-10.1.7.99', name: 'lab' },
      { site: 'S02', range: '10.2.0.0/16', name: 's02' },
      { site: 'C01', range: 'fd00:1::/48' },
    ])
      expect((await admin('POST', '/boundaries', b)).status).toBe(200);
    expect(
      errorCode(await admin('POST', '/boundaries', { site: 'S02', range: '10.2.0.0-10.2.255.255' })),
    ).toBe('OUTPOST_BOUNDARY_EXISTS');
    expect(
      errorCode(await admin('POST', '/boundaries', { site: 'S02', range: '10.3.0.0/16', name: 'hq' })),
    ).toBe('OUTPOST_BOUNDARY_EXISTS');
    const list = (await admin<BoundaryView[]>('GET', '/boundaries')).body;
    expect(list.map((b) => [b.name, b.site, b.range])).toEqual([
      ['C01:fd00:1::/48', 'C01', 'fd00:1::/48'],
      ['hq', 'C01', '10.0.0.0/8'],
      ['lab', 'C01', '10.1.7.10-10.1.7.99'],
      ['s02', 'S02', '10.2.0.0/16'],
    ]);
    expect((await admin<BoundaryView[]>('GET', '/boundaries?site=S02')).body).toHaveLength(1);
  });

  it('registers a client inside its boundaries; outside, or in another site, it is told why and registered nowhere', async () => {
    const ok = await register(inHq);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      assigned: true,
      client: inHq.id,
      site: 'C01',
      boundary: 'hq',
      address: '10.1.0.5',
    });
    expect((await register(inLab)).body).toMatchObject({ assigned: true, boundary: 'lab' });
    expect((await register(inV6)).body).toMatchObject({ assigned: true, boundary: 'C01:fd00:1::/48' });
    expect((await register(named)).body).toMatchObject({ assigned: true, boundary: 'hq' });
    // Registering again keeps the id.
    expect((await register(inHq)).body).toMatchObject({ client: inHq.id });

    const stranger = testClient('192.0.2.7');
    const outside = await register(stranger);
    expect(outside.status).toBe(200);
    expect(outside.body).toMatchObject({
      assigned: false,
      reason: 'outside-boundaries',
      address: '192.0.2.7',
    });
    const elsewhere = await register(testClient('10.2.3.4'));
    expect(elsewhere.body).toMatchObject({
      assigned: false,
      reason: 'other-site',
      site: 'S02',
      mp: 'http://127.0.0.1:9',
    });
    // Neither was recorded: their requests are refused as from unknown clients.
    const policy = await mp(stranger, 'GET', MP.policy);
    expect(policy.status).toBe(401);
    expect(errorCode(policy)).toBe('OUTPOST_CLIENT_NOT_REGISTERED');
  });

  it('refuses a registration not signed by the key it registers', async () => {
    const c = testClient('10.1.0.9');
    const other = testClient('10.1.0.9');
    // Signed by another key, under that key's id.
    const forged = await mp(other, 'POST', MP.register, { publicKey: c.publicKeyPem });
    expect(forged.status).toBe(401);
    // Signed by another key, claiming the registered key's id.
    const claimed = await mp({ ...other, id: c.id }, 'POST', MP.register, { publicKey: c.publicKeyPem });
    expect(claimed.status).toBe(401);
    const unsigned = await site.app.inject({
      method: 'POST',
      url: MP.register,
      remoteAddress: c.address,
      payload: { publicKey: c.publicKeyPem },
    });
    expect(unsigned.statusCode).toBe(401);
    const badKey = await mp(c, 'POST', MP.register, { publicKey: 'not a key' });
    expect(badKey.status).toBe(400);
  });

  it('deployment create refuses bad input and changes nothing', async () => {
    const base = { package: pkg, command: './setup.sh' };
    const cases: [object, number, string][] = [
      [base, 400, 'OUTPOST_BAD_INPUT'],
      [{ ...base, sites: ['C01'], boundaries: ['hq'] }, 400, 'OUTPOST_BAD_INPUT'],
      [{ ...base, boundaries: ['nope'] }, 404, 'OUTPOST_BOUNDARY_NOT_FOUND'],
      [{ ...base, clients: ['0123456789abcdef'] }, 404, 'OUTPOST_CLIENT_NOT_FOUND'],
      [{ ...base, clients: ['C01'] }, 400, 'OUTPOST_BAD_INPUT'],
      [{ ...base, sites: ['Q99'] }, 404, 'OUTPOST_SITE_NOT_FOUND'],
      [{ ...base, package: 'C01FFFFF', sites: ['C01'] }, 404, 'OUTPOST_PACKAGE_NOT_FOUND'],
      [{ ...base, sites: ['C01'], timeout: 'soon' }, 400, 'OUTPOST_BAD_DURATION'],
      [{ ...base, sites: ['C01'], timeout: '10ms' }, 400, 'OUTPOST_BAD_INPUT'],
      [{ ...base, command: '   ', sites: ['C01'] }, 400, 'OUTPOST_BAD_INPUT'],
    ];
    for (const [body, status, code] of cases) {
      const r = await admin('POST', '/deployments', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(errorCode(r), JSON.stringify(body)).toBe(code);
    }
    expect((await admin<DeploymentView[]>('GET', '/deployments')).body).toEqual([]);
  });

  it("gives each client the deployments for its site, boundary or id, with the files and its site's DP", async () => {
    const create = async (body: object) =>
      (await admin<DeploymentView>('POST', '/deployments', { package: pkg, command: './setup.sh', ...body }))
        .body;
    const toSite = await create({ sites: ['C01'], timeout: '5m', successCodes: [0, 3010] });
    expect(toSite).toMatchObject({
      id: 'C01D00001',
      program: { command: './setup.sh', timeoutMs: 300_000, successCodes: [0, 3010], workdir: null },
      target: { kind: 'site', values: ['C01'] },
      origin: 'C01',
    });
    const toLab = await create({ boundaries: ['lab'] });
    const toNamed = await create({ clients: [named.id], fallback: true });
    const toS02 = await create({ sites: ['S02'] });

    const ids = async (c: TestClient) =>
      ((await mp<Policy>(c, 'GET', MP.policy)).body.deployments ?? []).map((d) => d.id);
    expect(await ids(inHq)).toEqual([toSite.id]);
    expect(await ids(inLab)).toEqual([toSite.id, toLab.id]);
    expect(await ids(named)).toEqual([toSite.id, toNamed.id]);
    const policy = (await mp<Policy>(inLab, 'GET', MP.policy)).body;
    expect(policy).toMatchObject({ assigned: true, client: inLab.id, site: 'C01', boundary: 'lab' });
    expect(policy.deployments[0]).toMatchObject({
      package: { id: pkg, name: 'App', sourceVersion: 1, files: [{ path: 'setup.sh', size: 15 }] },
      dps: [{ dp: 'C01', site: 'C01', url: `${site.url}/dp/${pkg}/` }],
      last: null,
    });
    // The URL serves the file.
    const file = await site.app.inject({ method: 'GET', url: `/dp/${pkg}/setup.sh` });
    expect(file.body).toBe('echo installed\n');
    expect(toS02.target.values).toEqual(['S02']);
  });

  it('refuses a request that is unsigned, tampered with, replayed or out of its time window', async () => {
    const path = MP.status;
    const body = { deployment: 'C01D00001', state: 'succeeded', exitCode: 0 };
    const tampered = await mp(inHq, 'POST', path, body, {
      body: JSON.stringify({ ...body, state: 'failed' }),
    });
    expect(tampered.status).toBe(401);
    const unsigned = await site.app.inject({ method: 'GET', url: MP.policy, remoteAddress: inHq.address });
    expect(unsigned.statusCode).toBe(401);
    const signedAt = (time: number) =>
      signClientRequest(inHq.keys, inHq.id, { method: 'GET', path: MP.policy, body: '' }, time);
    const send = async (headers: Record<string, string>) =>
      (await site.app.inject({ method: 'GET', url: MP.policy, remoteAddress: inHq.address, headers }))
        .statusCode;
    expect(await send(signedAt(Date.now() - 3_600_000))).toBe(401);
    const once = signedAt(Date.now());
    expect(await send(once)).toBe(200);
    expect(await send(once)).toBe(401);
    // Signed by another key than the one registered for the id.
    const impostor = await mp({ ...testClient(inHq.address), id: inHq.id }, 'GET', MP.policy);
    expect(impostor.status).toBe(401);
    expect(
      (await admin<DeploymentSummary[]>('GET', '/status/deployments')).body.every((r) => r.succeeded === 0),
    ).toBe(true);
  });

  it('keeps each client status, counts them per deployment and site, and refuses a deployment not for the client', async () => {
    const report = (c: TestClient, body: object) => mp<{ state: string }>(c, 'POST', MP.status, body);
    expect((await report(inHq, { deployment: 'C01D00001', state: 'in-progress' })).status).toBe(200);
    expect((await report(inHq, { deployment: 'C01D00001', state: 'succeeded', exitCode: 0 })).status).toBe(
      200,
    );
    expect(
      (await report(inLab, { deployment: 'C01D00001', state: 'failed', exitCode: 2, output: 'no space' }))
        .status,
    ).toBe(200);
    expect((await report(inLab, { deployment: 'C01D00002', state: 'in-progress' })).status).toBe(200);
    const notFor = await report(inHq, { deployment: 'C01D00002', state: 'succeeded' });
    expect(notFor.status).toBe(400);
    expect((await report(inHq, { deployment: 'C01D0FFFF', state: 'succeeded' })).status).toBe(404);
    expect((await report(inHq, { deployment: 'C01D00001', state: 'done' })).status).toBe(400);
    expect((await report(inHq, { deployment: 'C01D00001', state: 'failed', exitCode: 'x' })).status).toBe(
      400,
    );
    expect((await report(inHq, { deployment: 'C01D00001', state: 'failed', exitCode: 1.5 })).status).toBe(
      400,
    );

    const rows = (await admin<DeploymentSummary[]>('GET', '/status/deployments')).body;
    const row = (d: string, s: string) => rows.find((r) => r.deployment === d && r.site === s);
    expect(row('C01D00001', 'C01')).toMatchObject({
      package: pkg,
      succeeded: 1,
      failed: 1,
      inProgress: 0,
      unknown: 2,
    });
    expect(row('C01D00001', 'C01')?.clients.find((c) => c.client === inLab.id)).toMatchObject({
      state: 'failed',
      exitCode: 2,
      output: 'no space',
    });
    expect(row('C01D00002', 'C01')).toMatchObject({ succeeded: 0, failed: 0, inProgress: 1, unknown: 0 });
    expect(row('C01D00003', 'C01')).toMatchObject({ unknown: 1 });
    // A site targeted whose clients are not known yet has a row of zeros.
    expect(row('C01D00004', 'S02')).toMatchObject({ succeeded: 0, failed: 0, inProgress: 0, unknown: 0 });
    const filtered = (await admin<DeploymentSummary[]>('GET', '/status/deployments?site=S02')).body;
    expect(filtered.map((r) => r.site)).toEqual(['S02']);
    // The policy says what the client last reported.
    const policy = (await mp<Policy>(inHq, 'GET', MP.policy)).body;
    expect(policy.deployments[0].last).toMatchObject({ state: 'succeeded', exitCode: 0 });

    // A program killed has no exit code: null is kept as null, not read as 0.
    const killed = {
      deployment: 'C01D00001',
      state: 'failed',
      exitCode: null,
      output: 'killed after the timeout',
    };
    expect((await report(inLab, killed)).status).toBe(200);
    const after = (await admin<DeploymentSummary[]>('GET', '/status/deployments')).body;
    const lab = after
      .find((r) => r.deployment === 'C01D00001' && r.site === 'C01')
      ?.clients.find((c) => c.client === inLab.id);
    expect(lab).toMatchObject({ state: 'failed', exitCode: null, output: 'killed after the timeout' });
  });

  it("lists the clients with each one's last report, shows one with every report, and refuses a bad or unknown id", async () => {
    const list = await admin<ClientView[]>('GET', '/clients');
    expect(list.status).toBe(200);
    const lab = list.body.find((c) => c.id === inLab.id);
    expect(lab).toMatchObject({ site: 'C01', address: inLab.address });
    // The killed run of C01D00001 is the lab client's newest report, after its C01D00002 one.
    expect(lab?.lastReport).toMatchObject({ deployment: 'C01D00001', state: 'failed', exitCode: null });
    expect(list.body.find((c) => c.id === inHq.id)?.lastReport).toMatchObject({ state: 'succeeded' });
    expect((await admin<ClientView[]>('GET', '/clients?site=S02')).body).toEqual([]);

    const one = await admin<ClientDetail>('GET', `/clients/${inLab.id}`);
    expect(one.status).toBe(200);
    expect(one.body.reports.map((r) => r.deployment)).toEqual(['C01D00001', 'C01D00002']);
    expect(one.body.lastReport).toEqual(one.body.reports[0]);

    const bad = await admin<ErrorBody>('GET', '/clients/nothex');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe("client id 'nothex' must be 16 lower-case hex digits");
    const unknown = await admin<ErrorBody>('GET', '/clients/0123456789abcdef');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('OUTPOST_CLIENT_NOT_FOUND');
    expect((await admin<ErrorBody>('GET', '/clients?site=nope')).status).toBe(400);
  });

  it('a registered client that moved outside every boundary gets no policy', async () => {
    const moved = await mp<Unassigned>(inHq, 'GET', MP.policy, undefined, { address: '198.51.100.1' });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ assigned: false, reason: 'outside-boundaries' });
    expect('deployments' in moved.body).toBe(false);
  });

  it('gives a child the boundaries of its subtree with those overlapping them, and the deployments for it', async () => {
    const snapshot = await snapshotFor(site.ctx, 'S02');
    // hq (10.0.0.0/8) overlaps s02: S02 must know it to decide "most specific" the same way.
    expect(snapshot.boundaries.map((b) => b.name).sort()).toEqual(['hq', 's02']);
    expect(snapshot.deployments.map((d) => d.id)).toEqual(['C01D00004']);
    expect(snapshot.packages).toMatchObject([
      { id: pkg, sourceVersion: 1, dps: [{ dp: 'C01', url: `${site.url}/dp/${pkg}/` }] },
    ]);
  });

  it('what comes from above replaces what came from above before; what was made here stays', async () => {
    const given = {
      boundaries: [{ name: 'x-branch', site: 'C01', range: '172.16.0.0/12', origin: 'X01', createdAt: 1 }],
      deployments: [],
      packages: [],
    };
    await acceptPolicy(site.ctx, given);
    const names = async () => (await admin<BoundaryView[]>('GET', '/boundaries')).body.map((b) => b.name);
    expect(await names()).toContain('x-branch');
    // A boundary from above is deleted where it was made, not here.
    expect(errorCode(await admin('DELETE', '/boundaries/x-branch'))).toBe('OUTPOST_NOT_ORIGIN');
    await acceptPolicy(site.ctx, { ...given, boundaries: [] });
    expect(await names()).not.toContain('x-branch');
    expect(await names()).toContain('hq');
    // DPs above this site come after its own, and only for a deployment that allows fallback.
    const above = { dp: 'X01', site: 'X01', url: 'http://x01.example/dp/' };
    await acceptPolicy(site.ctx, {
      ...given,
      boundaries: [],
      packages: [{ id: pkg, name: 'App', sourceVersion: 1, files: [], dps: [above] }],
    });
    const policy = (await mp<Policy>(named, 'GET', MP.policy)).body;
    const dpsOf = (id: string) => policy.deployments.find((d) => d.id === id)?.dps.map((d) => d.dp);
    expect(dpsOf('C01D00003')).toEqual(['C01', 'X01']);
    expect(dpsOf('C01D00001')).toEqual(['C01']);
    // A snapshot with a bad range changes nothing.
    await expect(
      acceptPolicy(site.ctx, { ...given, boundaries: [{ ...given.boundaries[0], range: '172.16.0.1/12' }] }),
    ).rejects.toThrow(/host bits/);
    expect(await names()).not.toContain('x-branch');
  });

  it('boundary and deployment delete: only at their origin, and the deployment status goes with it', async () => {
    expect(errorCode(await admin('DELETE', '/boundaries/nope'))).toBe('OUTPOST_BOUNDARY_NOT_FOUND');
    expect(errorCode(await admin('DELETE', '/deployments/C01D0FFFF'))).toBe('OUTPOST_DEPLOYMENT_NOT_FOUND');
    expect(errorCode(await admin('DELETE', '/deployments/nope'))).toBe('OUTPOST_BAD_INPUT');
    expect((await admin('DELETE', '/deployments/C01D00001')).status).toBe(200);
    const rows = (await admin<DeploymentSummary[]>('GET', '/status/deployments')).body;
    expect(rows.some((r) => r.deployment === 'C01D00001')).toBe(false);
    expect((await admin('DELETE', '/boundaries/lab')).status).toBe(200);
    // A default name holds the range, slashes and colons too.
    expect((await admin('DELETE', `/boundaries/${encodeURIComponent('C01:fd00:1::/48')}`)).status).toBe(200);
    expect((await mp<Unassigned>(inV6, 'GET', MP.policy)).body).toMatchObject({
      reason: 'outside-boundaries',
    });
    // The lab client is placed by hq now.
    expect((await mp<Policy>(inLab, 'GET', MP.policy)).body).toMatchObject({ boundary: 'hq' });
  });
});
