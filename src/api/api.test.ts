import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertChildSite } from '../../test/sites.js';
import { tempDir } from '../../test/tempdirs.js';
import type { ContentStore } from '../content/index.js';
import { freePort, waitFor } from '../demo/index.js';
import type { ErrorBody } from '../errors/index.js';
import { readLog } from '../logs/index.js';
import { createPackage, type ImportView } from '../packages/index.js';
import { generateSiteKeys, loadSiteKeys, S2S, type SiteKeys, sha256Hex, signRequest } from '../s2s/index.js';
import { type RunningSite, startSite } from '../server/index.js';
import { initCentral } from '../sites/index.js';
import type { PackageStatus, StatusMessage } from '../status/index.js';

/** The HTTP surface of one real site server (C01 on a temp data dir), driven in-process by inject(). */
describe('site server HTTP API', () => {
  let site: RunningSite;
  let token: string;
  const child = { site: 'S02', generation: 'g-s02' };
  const childPair = generateSiteKeys();
  const childKeys = loadSiteKeys(childPair.privateKeyPem);

  beforeAll(async () => {
    const dataDir = join(tempDir('api'), 'C01');
    ({ token } = await initCentral({ dataDir, code: 'C01', listen: `127.0.0.1:${await freePort()}` }));
    // Refusals are reported each second here, not each minute, so a test can wait for the report.
    site = await startSite(dataDir, { settings: { rejectionReportMs: 1000 } });
    const now = site.ctx.clock.now();
    await insertChildSite(site.ctx.db, {
      code: child.site,
      name: child.site,
      url: 'http://127.0.0.1:9',
      generation: child.generation,
      public_key: childPair.publicKeyPem,
      last_contact: now,
      created_at: now,
      updated_at: now,
    });
  });

  afterAll(async () => {
    await site?.stop();
  });

  const admin = (method: 'GET' | 'POST', url: string, payload?: object) =>
    site.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, payload });

  const errorOf = (res: { json(): unknown }) => (res.json() as ErrorBody).error;

  describe('admin API', () => {
    it('refuses a request without a token: 401 with a JSON error', async () => {
      const res = await site.app.inject({ method: 'GET', url: '/api/v1/sites' });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res)).toMatchObject({ code: 'OUTPOST_UNAUTHORIZED', message: expect.any(String) });
    });

    it('refuses a wrong token: 401 with a JSON error', async () => {
      // Change the last character to one it is not, so the token is wrong on every run.
      const wrong = `${token.slice(0, -1)}${token.endsWith('x') ? 'y' : 'x'}`;
      const res = await site.app.inject({
        method: 'GET',
        url: '/api/v1/sites',
        headers: { authorization: `Bearer ${wrong}` },
      });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('OUTPOST_UNAUTHORIZED');
    });

    it('answers a body that fails its schema with 400 naming the field', async () => {
      const res = await admin('POST', '/sites', {
        code: 'S03',
        type: 'secondary',
        url: 'http://127.0.0.1:9',
        name: 'x'.repeat(201),
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).code).toBe('OUTPOST_BAD_INPUT');
      expect(errorOf(res).message).toBe('body.name must NOT have more than 200 characters');
    });

    it('logs a failure of its own (5xx) to the api log', async () => {
      await sql`alter table jobs rename to jobs_away`.execute(site.ctx.db);
      try {
        const res = await admin('GET', '/jobs');
        expect(res.statusCode).toBe(500);
        expect(errorOf(res).code).toBe('OUTPOST_INTERNAL');
      } finally {
        await sql`alter table jobs_away rename to jobs`.execute(site.ctx.db);
      }
      const logged = await waitFor('the failure in the api log', 10_000, async () => {
        const lines = (await readLog(site.ctx.paths.logs, 'api', { offset: 0 })).lines;
        return lines
          .map((l) => JSON.parse(l) as { msg: string; err?: { message: string } })
          .find((l) => l.msg === 'request failed');
      });
      expect(logged.err?.message).toMatch(/jobs/);
    });

    it('shows a running import by the id its caller chose, and answers 404 once it is over', async () => {
      const source = join(tempDir('import-source'), 'src');
      mkdirSync(source);
      for (let i = 0; i < 300; i++) writeFileSync(join(source, `f${i}`), `file ${i}`);
      // Chunks are stored only once the test lets them: the import is held part-way through.
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const real = site.ctx.store;
      const store: ContentStore = {
        has: (sha) => real.has(sha),
        put: (sha, data) => real.put(sha, data),
        putMany: async (chunks) => {
          await gate;
          return real.putMany(chunks);
        },
        get: (sha) => real.get(sha),
        read: (sha) => real.read(sha),
        openChunk: (sha) => real.openChunk(sha),
        delete: (shas) => real.delete(shas),
        list: () => real.list(),
      };
      const importId = 'watch-this-import';
      const created = createPackage({ ...site.ctx, store }, { name: 'Watched', source, importId });
      const running = await waitFor('the import to show', 10_000, async () => {
        const res = await admin('GET', `/packages/imports/${importId}`);
        return res.statusCode === 200 ? (res.json() as ImportView) : undefined;
      });
      expect(running).toMatchObject({ id: importId, source, files: 300 });
      expect(running.filesDone).toBeLessThan(300);
      expect((await admin('GET', '/packages/imports/bad id')).statusCode).toBe(400);
      release();
      expect((await created).files).toHaveLength(300);
      const over = await admin('GET', `/packages/imports/${importId}`);
      expect(over.statusCode).toBe(404);
      expect(errorOf(over).code).toBe('OUTPOST_NOT_FOUND');
    });

    it('refuses a body field it does not know: 400 naming it, nothing done', async () => {
      const res = await admin('POST', '/sites', {
        code: 'S09',
        type: 'secondary',
        parent: 'C01',
        url: 'http://127.0.0.1:9',
        joinDeadlin: '10m',
      });
      expect(res.statusCode).toBe(400);
      expect(errorOf(res)).toEqual({
        code: 'OUTPOST_BAD_INPUT',
        message: "body has unknown field 'joinDeadlin'",
      });
      expect((await admin('GET', '/sites/S09')).statusCode).toBe(404);
    });

    it('describes the admin API in an OpenAPI 3 document, behind the token', async () => {
      expect((await site.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).statusCode).toBe(401);
      const res = await admin('GET', '/openapi.json');
      expect(res.statusCode).toBe(200);
      const doc = res.json() as {
        openapi: string;
        paths: Record<
          string,
          Record<
            string,
            {
              tags?: string[];
              requestBody?: {
                content: Record<string, { schema: { properties: object; additionalProperties?: boolean } }>;
              };
            }
          >
        >;
      };
      expect(doc.openapi).toMatch(/^3\./);
      for (const path of [
        '/api/v1/sites',
        '/api/v1/sites/{code}',
        '/api/v1/packages',
        '/api/v1/status/summary',
        '/api/v1/jobs',
      ])
        expect(Object.keys(doc.paths)).toContain(path);
      // Only the admin API: not the site-to-site, DP, management point or ops routes, nor itself.
      expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/api/v1/'))).toEqual([]);
      expect(doc.paths['/api/v1/openapi.json']).toBeUndefined();
      // Bodies come from the TypeBox schemas.
      const addSite = doc.paths['/api/v1/sites'].post;
      expect(addSite.tags).toEqual(['sites']);
      const body = addSite.requestBody?.content['application/json'].schema;
      expect(Object.keys(body?.properties ?? {})).toEqual(
        expect.arrayContaining(['code', 'type', 'parent', 'url']),
      );
      expect(body?.additionalProperties).toBe(false);
    });

    it('summarizes every site below: packages by state across its DPs, backlog toward it', async () => {
      const db = site.ctx.db;
      const now = site.ctx.clock.now();
      const status = (pkg: string, dp: string, state: string) => ({
        package_id: pkg,
        dp,
        site_code: 'S02',
        source_version: 1,
        state,
        error: null,
        updated_at: now,
      });
      await db
        .insertInto('package_status')
        .values([
          status('C01SUM01', 'S02', 'Installed'),
          status('C01SUM02', 'S02', 'Installed'),
          status('C01SUM01', 'S02/DP2', 'Install Retrying'),
        ])
        .execute();
      // An untried job counts its package's size; one tried before, what it has left to send.
      await db
        .insertInto('package_files')
        .values({
          package_id: 'C01SUM03',
          source_version: 1,
          path: 'a',
          size: 1000,
          sha256: 'x',
          chunks: '[]',
        })
        .execute();
      const job = {
        site_code: 'S02',
        kind: 'package' as const,
        dps: '["S02"]',
        last_error: null,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      };
      await db
        .insertInto('jobs')
        .values([
          {
            ...job,
            id: 'sum-untried',
            package_id: 'C01SUM03',
            source_version: 1,
            state: 'pending',
            bytes_sent: 0,
            bytes_total: 0,
            attempts: 0,
          },
          {
            ...job,
            id: 'sum-retrying',
            package_id: 'C01SUM04',
            source_version: 1,
            state: 'retrying',
            bytes_sent: 300,
            bytes_total: 500,
            attempts: 2,
          },
          {
            ...job,
            id: 'sum-done',
            package_id: 'C01SUM05',
            source_version: 1,
            state: 'completed',
            bytes_sent: 500,
            bytes_total: 500,
            attempts: 1,
          },
        ])
        .execute();
      try {
        const res = await admin('GET', '/status/summary');
        expect(res.statusCode).toBe(200);
        const rows = res.json() as { code: string; packages: Record<string, number>; backlog: object }[];
        expect(rows.map((r) => r.code)).toEqual(['C01', 'S02']);
        expect(rows[1]).toMatchObject({
          code: 'S02',
          state: 'active',
          generation: child.generation,
          lastContact: expect.any(Number),
          packages: { Installed: 2, 'Install Retrying': 1, 'Install Pending': 0 },
          backlog: { jobs: 2, bytes: 1200, rate: null },
        });
        expect(rows[0].backlog).toEqual({ jobs: 0, bytes: 0, rate: null });
      } finally {
        await db.deleteFrom('jobs').where('id', 'like', 'sum-%').execute();
        await db.deleteFrom('package_files').where('package_id', '=', 'C01SUM03').execute();
        await db.deleteFrom('package_status').where('package_id', 'like', 'C01SUM%').execute();
      }
    });

    it('answers a well-formed but invalid value with 400 from the domain', async () => {
      const res = await admin('GET', '/jobs?state=sleeping');
      expect(res.statusCode).toBe(400);
      expect(errorOf(res)).toMatchObject({
        code: 'OUTPOST_BAD_INPUT',
        message: "job state 'sleeping' is not valid",
      });
    });

    it('rebuilds: bad input is 4xx and changes nothing; one running per site; abort of none is 404', async () => {
      const rows = async () =>
        (await site.ctx.db.selectFrom('rebuilds').select('state').execute()).map((r) => r.state);
      for (const [method, url, payload, status, code] of [
        ['POST', '/rebuilds/Q42', {}, 404, 'OUTPOST_SITE_NOT_FOUND'],
        ['POST', '/rebuilds/s2', {}, 400, 'OUTPOST_BAD_SITE_CODE'],
        ['POST', '/rebuilds/S02', { path: 'move' }, 400, 'OUTPOST_BAD_INPUT'],
        ['POST', '/rebuilds/S02', { exportTo: 'mnt' }, 400, 'OUTPOST_BAD_INPUT'],
        ['POST', '/rebuilds/S02/plan', { preloadFrom: 'here' }, 400, 'OUTPOST_BAD_INPUT'],
        ['GET', '/rebuilds/S02', undefined, 404, 'OUTPOST_NOT_FOUND'],
        ['POST', '/rebuilds/S02/resume', {}, 404, 'OUTPOST_NOT_FOUND'],
        ['POST', '/rebuilds/S02/abort', undefined, 404, 'OUTPOST_NOT_FOUND'],
      ] as const) {
        const res = await admin(method, url, payload);
        expect([res.statusCode, errorOf(res)?.code], `${method} ${url}: ${res.body}`).toEqual([status, code]);
      }
      expect(await rows()).toEqual([]);

      const started = await admin('POST', '/rebuilds/S02', { exportTo: '/mnt/disk/s02' });
      expect(started.statusCode).toBe(201);
      expect(started.json()).toMatchObject({
        site: 'S02',
        state: 'running',
        next: expect.stringContaining('outpost content export --dp S02 --out /mnt/disk/s02'),
      });
      const again = await admin('POST', '/rebuilds/S02', {});
      expect([again.statusCode, errorOf(again).code]).toEqual([409, 'OUTPOST_REBUILD_RUNNING']);
      const notWaiting = await admin('POST', '/rebuilds/S02/resume', { done: ['join'] });
      expect([notWaiting.statusCode, errorOf(notWaiting).code]).toEqual([400, 'OUTPOST_BAD_INPUT']);
      expect(await rows()).toEqual(['running']);
      const aborted = await admin('POST', '/rebuilds/S02/abort');
      expect(aborted.json()).toMatchObject({ state: 'aborted' });
      expect(await rows()).toEqual(['aborted']);
    });
  });

  describe('site-to-site signatures', () => {
    /** A request to `path` with `body`, signed with `keys` as the child S02. */
    function signedPost(path: string, body: object, keys: SiteKeys = childKeys) {
      const payload = JSON.stringify(body);
      const headers = signRequest(
        keys,
        child,
        { method: 'POST', path, bodySha: sha256Hex(payload) },
        site.ctx.clock.now(),
      );
      return {
        method: 'POST' as const,
        url: path,
        headers: { ...headers, 'content-type': 'application/json' },
        payload,
      };
    }

    function signedHeartbeat(keys: SiteKeys) {
      return signedPost(S2S.heartbeat, { time: site.ctx.clock.now() }, keys);
    }

    async function rejections(): Promise<StatusMessage[]> {
      const res = await admin('GET', '/status/messages?component=hierman');
      return (res.json() as StatusMessage[]).filter((m) => m.text.startsWith('rejected '));
    }

    /** How many refusals /metrics has counted for `reason` and `peer`. */
    async function refused(reason: string, peer: string): Promise<number> {
      const text = (await site.app.inject({ method: 'GET', url: '/metrics' })).body;
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`outpost_s2s_rejected_total{reason="${reason}",peer="${peer}"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    }

    it('accepts a heartbeat signed by the child', async () => {
      const res = await site.app.inject(signedHeartbeat(childKeys));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ time: expect.any(Number) });
    });

    it('refuses a forged signature with 401, counts it, and reports it once its interval is over', async () => {
      const forger = loadSiteKeys(generateSiteKeys().privateKeyPem);
      const res = await site.app.inject(signedHeartbeat(forger));
      expect(res.statusCode).toBe(401);
      expect(res.headers.connection).toBe('close');
      expect(errorOf(res)).toMatchObject({
        code: 'OUTPOST_BAD_SIGNATURE',
        message: expect.stringMatching(/does not verify/),
      });
      expect(await refused('bad-signature', 'S02')).toBe(1);
      const text = 'rejected 1 request from 127.0.0.1 claiming S02 in the last 1s: signature does not verify';
      const report = await waitFor('the report of the refusal', 10_000, async () =>
        (await rejections()).find((m) => m.text === text),
      );
      expect(report).toMatchObject({ severity: 'warning', site: 'C01', subject: 'S02' });
    });

    it('refuses a body that is not the one signed, after reading it', async () => {
      const request = signedHeartbeat(childKeys);
      const res = await site.app.inject({ ...request, payload: JSON.stringify({ time: 1 }) });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).message).toMatch(/body does not match its signed hash/);
      expect(await refused('body-mismatch', 'S02')).toBe(1);
    });

    it('refuses a signed body larger than its route carries', async () => {
      const res = await site.app.inject(signedPost(S2S.heartbeat, { pad: 'x'.repeat(4096) }));
      expect(errorOf(res).code).toBe('OUTPOST_TOO_LARGE');
    });

    it('limits unsigned requests per address: 429 with a JSON error after the burst', async () => {
      const check = (remoteAddress: string) =>
        site.app.inject({
          method: 'POST',
          url: S2S.joinCheck,
          payload: { token: 'S09.nope' },
          remoteAddress,
        });
      const answers: number[] = [];
      for (let i = 0; i < 101; i++) answers.push((await check('192.0.2.7')).statusCode);
      // The first 100 of the minute are answered (a bad token: 401), the next is not.
      expect(answers.slice(0, 100).every((s) => s === 401)).toBe(true);
      const limited = await check('192.0.2.7');
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(errorOf(limited)).toMatchObject({
        code: 'OUTPOST_RATE_LIMITED',
        hint: expect.stringMatching(/try again/),
      });
      expect((await check('192.0.2.8')).statusCode).toBe(401);
      expect(await refused('rate-limited', 'unknown')).toBeGreaterThanOrEqual(1);
    });

    it('refuses a replayed request (same nonce twice) with 401', async () => {
      const request = signedHeartbeat(childKeys);
      expect((await site.app.inject(request)).statusCode).toBe(200);
      const replay = await site.app.inject(request);
      expect(replay.statusCode).toBe(401);
      expect(errorOf(replay)).toMatchObject({
        code: 'OUTPOST_BAD_SIGNATURE',
        message: expect.stringMatching(/replay/),
      });
    });

    it('refuses a child calling a route only the parent may call', async () => {
      const res = await site.app.inject(signedPost(S2S.sitePurge, { code: 'S09' }));
      expect(res.statusCode).toBe(401);
      expect(errorOf(res)).toMatchObject({
        code: 'OUTPOST_UNAUTHORIZED',
        message: 'this request must come from the parent site',
      });
    });
  });

  describe('DP content', () => {
    const content = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    let url: string;
    let etag: string;

    beforeAll(async () => {
      const source = tempDir('api-source');
      mkdirSync(join(source, 'docs'));
      writeFileSync(join(source, 'docs', 'readme.txt'), content);
      const created = await admin('POST', '/packages', { name: 'docs', source });
      expect(created.statusCode).toBe(201);
      const id = (created.json() as { id: string }).id;
      expect((await admin('POST', `/packages/${id}/assign`, { dps: ['C01'] })).statusCode).toBe(200);
      await waitFor('the package Installed on the DP of C01', 30_000, async () => {
        const rows = (await admin('GET', `/status/packages?package=${id}`)).json() as PackageStatus[];
        return rows.some((r) => r.dp === 'C01' && r.state === 'Installed');
      });
      url = `/dp/${id}/docs/readme.txt`;
      etag = `"${sha256Hex(content)}"`;
    });

    it('serves the whole file with its strong ETag', async () => {
      const res = await site.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload).toEqual(content);
      expect(res.headers.etag).toBe(etag);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    });

    it('answers a Range with 206 and exactly those bytes', async () => {
      const res = await site.app.inject({ method: 'GET', url, headers: { range: 'bytes=10-15' } });
      expect(res.statusCode).toBe(206);
      expect(res.rawPayload.toString()).toBe('abcdef');
      expect(res.headers['content-range']).toBe(`bytes 10-15/${content.length}`);
      expect(res.headers['content-length']).toBe('6');
    });

    it('answers an unsatisfiable Range with 416', async () => {
      const res = await site.app.inject({
        method: 'GET',
        url,
        headers: { range: `bytes=${content.length}-` },
      });
      expect(res.statusCode).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${content.length}`);
    });

    it('answers If-None-Match with the current ETag with 304 and no body', async () => {
      const res = await site.app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
      expect(res.statusCode).toBe(304);
      expect(res.rawPayload.length).toBe(0);
      const stale = await site.app.inject({ method: 'GET', url, headers: { 'if-none-match': '"other"' } });
      expect(stale.statusCode).toBe(200);
    });

    it('says which DP it is at its base URL, so a site preloading from it knows it reached one', async () => {
      for (const base of ['/dp', '/dp/']) {
        const res = await site.app.inject({ method: 'GET', url: base });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ dp: 'C01', site: 'C01' });
      }
      expect((await admin('POST', '/dps', { site: 'C01', name: 'lab' })).statusCode).toBeLessThan(300);
      const named = await site.app.inject({ method: 'GET', url: '/dps/lab/' });
      expect(named.json()).toEqual({ dp: 'C01/lab', site: 'C01' });
      const missing = await site.app.inject({ method: 'GET', url: '/dps/nope' });
      expect(missing.statusCode).toBe(404);
      expect(errorOf(missing).code).toBe('OUTPOST_DP_NOT_FOUND');
    });

    it('serves a file of many chunks: whole and 100 concurrent Ranges, exact bytes; aborted ones close their chunks', async () => {
      const source = tempDir('api-big');
      // Random bytes, so the chunker cuts several chunks, each longer than one read block.
      const big = randomBytes(5 * 1024 * 1024 + 12_345);
      writeFileSync(join(source, 'big.bin'), big);
      const created = await admin('POST', '/packages', { name: 'big', source });
      const id = (created.json() as { id: string }).id;
      const files = (await site.ctx.db
        .selectFrom('package_files')
        .select('chunks')
        .where('package_id', '=', id)
        .executeTakeFirstOrThrow()) as { chunks: string };
      const chunks = JSON.parse(files.chunks) as [string, number][];
      expect(chunks.length).toBeGreaterThan(2);
      const fileUrl = `${site.url}/dp/${id}/big.bin`;
      // Not served before it is Installed on this DP.
      expect((await fetch(fileUrl)).status).toBe(404);
      await admin('POST', `/packages/${id}/assign`, { dps: ['C01'] });
      await waitFor('the big package Installed on the DP of C01', 30_000, async () => {
        const rows = (await admin('GET', `/status/packages?package=${id}`)).json() as PackageStatus[];
        return rows.some((r) => r.dp === 'C01' && r.state === 'Installed');
      });
      const whole = await fetch(fileUrl);
      expect(whole.status).toBe(200);
      expect(sha256Hex(Buffer.from(await whole.arrayBuffer()))).toBe(sha256Hex(big));
      // Ranges that start and end inside a chunk, on a chunk's edges, across several, and at the end.
      let edge = 0;
      const edges = chunks.map(([, size]) => (edge += size));
      const ranges: [number, number][] = [
        [0, 0],
        [edges[0] - 1, edges[0]],
        [edges[0], edges[1] - 1],
        [5, Math.min(big.length - 1, edges[2] + 7)],
        [big.length - 1, big.length - 1],
      ];
      for (let i = ranges.length; i < 100; i++) {
        const a = (i * 2_654_435_761) % big.length;
        const b = Math.min(big.length - 1, a + ((i * 40_503) % (3 * 1024 * 1024)));
        ranges.push([a, b]);
      }
      const answers = await Promise.all(
        ranges.map(async ([a, b]) => {
          const res = await fetch(fileUrl, { headers: { range: `bytes=${a}-${b}` } });
          return {
            a,
            b,
            status: res.status,
            range: res.headers.get('content-range'),
            body: Buffer.from(await res.arrayBuffer()),
          };
        }),
      );
      for (const { a, b, status, range, body } of answers) {
        expect(status).toBe(206);
        expect(range).toBe(`bytes ${a}-${b}/${big.length}`);
        expect(sha256Hex(body)).toBe(sha256Hex(big.subarray(a, b + 1)));
      }
      // Clients that go away mid-file leave no chunk file open on the DP.
      const chunksDir = site.ctx.paths.chunks;
      const openChunks = () =>
        readdirSync('/proc/self/fd').filter((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`).startsWith(chunksDir);
          } catch {
            return false;
          }
        }).length;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const aborted = new AbortController();
          const res = await fetch(fileUrl, { signal: aborted.signal });
          const reader = res.body?.getReader();
          await reader?.read();
          aborted.abort();
          await reader?.cancel().catch(() => undefined);
        }),
      );
      await waitFor('no chunk file open after the aborted downloads', 10_000, async () => openChunks() === 0);
    });

    it('counts requests by DP, status and kind, and the bytes served, in /metrics with HELP', async () => {
      const scrape = async () => (await site.app.inject({ method: 'GET', url: '/metrics' })).body;
      const value = (text: string, series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line ? Number(line.split(' ').pop()) : 0;
      };
      const requests = (labels: string) => `outpost_dp_requests_total{${labels}}`;
      const before = await scrape();
      expect((await site.app.inject({ method: 'GET', url })).statusCode).toBe(200);
      const ranged = await site.app.inject({ method: 'GET', url, headers: { range: 'bytes=10-15' } });
      expect(ranged.statusCode).toBe(206);
      expect((await site.app.inject({ method: 'HEAD', url })).statusCode).toBe(200);
      expect(
        (await site.app.inject({ method: 'GET', url: url.replace('readme', 'missing') })).statusCode,
      ).toBe(404);
      const named = url.replace('/dp/', '/dps/nosuchdp/');
      expect(
        (await site.app.inject({ method: 'GET', url: named, headers: { range: 'bytes=0-1' } })).statusCode,
      ).toBe(404);
      const after = await scrape();
      const delta = (series: string) => value(after, series) - value(before, series);
      expect(delta(requests('dp="C01",status="200",kind="whole"'))).toBe(2);
      expect(delta(requests('dp="C01",status="206",kind="range"'))).toBe(1);
      // Not found: no DP of this site was served from, so no series per made-up name.
      expect(delta(requests('dp="",status="404",kind="whole"'))).toBe(1);
      expect(delta(requests('dp="",status="404",kind="range"'))).toBe(1);
      expect(after).not.toContain('nosuchdp');
      // The whole file once (the HEAD sends no body) and six bytes of it. A block counts when the
      // socket's write callback runs, which may come just after the response has been read.
      const bytes = (kind: string) => `outpost_dp_bytes_total{dp="C01",kind="${kind}"}`;
      let last = after;
      await waitFor('the bytes served counted', 10_000, async () => {
        last = await scrape();
        return value(last, bytes('range')) - value(before, bytes('range')) >= 6;
      });
      expect(value(last, bytes('whole')) - value(before, bytes('whole'))).toBe(content.length);
      expect(value(last, bytes('range')) - value(before, bytes('range'))).toBe(6);
      expect(after).toMatch(/^# HELP outpost_dp_requests_total \S.+$/m);
      expect(after).toMatch(/^# HELP outpost_dp_bytes_total \S.+$/m);
    });

    it('answers a file that is not there through the one error mapper: 404 JSON', async () => {
      const res = await site.app.inject({ method: 'GET', url: url.replace('readme', 'missing') });
      expect(res.statusCode).toBe(404);
      expect(errorOf(res).code).toBe('OUTPOST_FILE_NOT_FOUND');
    });
  });
});
