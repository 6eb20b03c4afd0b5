import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { type Hierarchy, startHierarchy, TWO_LEVELS } from '../../src/demo/index.js';
import type { PackageView } from '../../src/packages/index.js';
import { NDJSON, S2S } from '../../src/s2s/index.js';
import { identityOf, sha256, signedNdjson, signedPost, tempDir, waitForPackageState } from './helpers.js';

const FILES = 20_000;
const contentOf = (i: number) => `file ${i}\n`;

/**
 * The manifest of a package is streamed to the child (NDJSON), checked and staged line by line, and
 * takes effect only once the whole body matched its signed hash.
 */
describe('a streamed offer', () => {
  let h: Hierarchy;
  const base = tempDir('e2e-offer-stream');
  const source = join(base, 'src');

  beforeAll(async () => {
    h = await startHierarchy(base, TWO_LEVELS);
    for (let i = 0; i < FILES; i++) {
      const dir = join(source, `d${Math.floor(i / 1000)}`);
      if (i % 1000 === 0) mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `f${i}.txt`), contentOf(i));
    }
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** What S02's database holds of package `id`, and how many offered lines are still staged. */
  async function atChild(id: string) {
    const { db, close } = await openDatabase({
      kind: 'sqlite',
      file: join(h.sites.S02.dataDir, 'db', 'site.db'),
    });
    try {
      const count = async (table: 'package_files' | 'offered_files', where: boolean) => {
        let query = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
        if (where && table === 'package_files') query = query.where('package_id', '=', id);
        return Number((await query.executeTakeFirstOrThrow()).n);
      };
      return {
        packages: await db.selectFrom('packages').select('id').where('id', '=', id).execute(),
        files: await count('package_files', true),
        staged: await count('offered_files', false),
      };
    } finally {
      await close();
    }
  }

  it(`brings a package of ${FILES} files to Installed at the child`, async () => {
    const { C01, S02 } = h.sites;
    const pkg = await C01.admin.post<PackageView>('/packages', { name: 'Many files', source });
    expect(pkg.files).toHaveLength(FILES);
    await C01.admin.post(`/packages/${pkg.id}/assign`, { dps: ['S02'] });
    await waitForPackageState(S02, pkg.id, 'S02', 'Installed', 180_000);
    for (const i of [0, 4321, FILES - 1]) {
      const res = await fetch(`${S02.url}/dp/${pkg.id}/d${Math.floor(i / 1000)}/f${i}.txt`);
      expect(await res.text()).toBe(contentOf(i));
    }
    expect(await atChild(pkg.id)).toMatchObject({ packages: [{ id: pkg.id }], files: FILES, staged: 0 });
  }, 300_000);

  describe('an offer that is not sound changes nothing at the child', () => {
    const id = 'C01000F0';
    /** More file lines than one staging batch, so some are staged before the end shows what is wrong. */
    const n = 2500;
    const header = { job: 'hostile', id, name: 'Hostile', sourceVersion: 1, origin: 'C01', files: n };
    const files = Array.from({ length: n }, (_, i) => {
      const data = `hostile ${i}`;
      return {
        path: `d/f${String(i).padStart(5, '0')}`,
        size: data.length,
        sha256: sha256(data),
        chunks: [[sha256(data), data.length]],
      };
    });
    const ndjson = (lines: unknown[]) => lines.map((l) => `${JSON.stringify(l)}\n`).join('');
    const offer = (lines: unknown[], sent?: string) =>
      signedNdjson(h.sites.S02.url, S2S.offer, lines, identityOf(h.sites.C01.dataDir), sent);
    const errorOf = async (res: Response) =>
      ((await res.json()) as { error: { code: string; message: string } }).error;

    async function expectNothingStored(): Promise<void> {
      expect(await atChild(id)).toEqual({ packages: [], files: 0, staged: 0 });
    }

    it('a body that is not the one signed: 401, after its lines were staged, and none kept', async () => {
      const body = ndjson([header, ...files]);
      const tampered = body.replace('d/f02100', 'd/x02100');
      expect(tampered).not.toBe(body);
      const res = await offer([header, ...files], tampered);
      expect(res.status).toBe(401);
      expect(await errorOf(res)).toMatchObject({
        code: 'OUTPOST_BAD_SIGNATURE',
        message: expect.stringMatching(/body does not match its signed hash/),
      });
      await expectNothingStored();
    });

    it('a body cut short: 401 when signed whole, 400 when what was signed announces more files', async () => {
      const body = ndjson([header, ...files]);
      const cut = await offer([header, ...files], body.slice(0, Math.floor(body.length * 0.9)));
      expect(cut.status).toBe(401);
      await expectNothingStored();
      const short = await offer([header, ...files.slice(0, n - 1)]);
      expect(short.status).toBe(400);
      expect((await errorOf(short)).message).toBe(`offer holds ${n - 1} of the ${n} files it announces`);
      await expectNothingStored();
    });

    it('a path given twice, in different staging batches: 400 naming it', async () => {
      const twice = [...files];
      twice[2100] = { ...files[10] };
      const res = await offer([header, ...twice]);
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toEqual({
        code: 'OUTPOST_BAD_PATH',
        message: "'d/f00010' appears twice in the manifest",
      });
      await expectNothingStored();
    });

    it('a body of another type is refused before it is read', async () => {
      const res = await signedPost(
        h.sites.S02.url,
        S2S.offer,
        { job: 'hostile', header },
        identityOf(h.sites.C01.dataDir),
      );
      expect(res.status).toBe(400);
      expect((await errorOf(res)).message).toBe(`an offer is sent as ${NDJSON}`);
      await expectNothingStored();
    });

    it('the same offer, sound, is stored and answered with the chunks the child lacks', async () => {
      const res = await offer([header, ...files]);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain(NDJSON);
      const lines = (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
      expect(lines).toHaveLength(n + 1);
      expect(lines.slice(0, n)).toEqual(files.map((f) => ({ missing: f.sha256 })));
      expect(lines[n]).toEqual({ end: n });
      expect(await atChild(id)).toEqual({ packages: [{ id }], files: n, staged: 0 });
    });
  });
});
