import { assertPackagePath, assertSha256, chunksOf, MAX_CHUNK } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { assertPackageId, getPackageRow, storeOfferedManifest } from '../packages/index.js';
import type { BlockChunk, PackageManifest } from '../s2s/index.js';
import { assertSiteCode, nextHop, parseDpName } from '../sites/index.js';
import { postMessage } from '../status/index.js';
import { collectGarbage, forgetPackage } from './gc.js';

/** Checks everything in an offered manifest that could hurt this site if it were wrong. */
function assertManifest(m: PackageManifest): void {
  assertPackageId(m.id);
  assertSiteCode(m.origin, 'package origin');
  if (!Number.isInteger(m.sourceVersion) || m.sourceVersion < 1)
    throw new OutpostError('OUTPOST_BAD_INPUT', 'source version must be a positive integer');
  const seen = new Set<string>();
  for (const f of m.files) {
    assertPackagePath(f.path);
    if (seen.has(f.path))
      throw new OutpostError('OUTPOST_BAD_PATH', `'${f.path}' appears twice in the manifest`);
    seen.add(f.path);
    assertSha256(f.sha256);
    let size = 0;
    for (const [sha, n] of f.chunks) {
      assertSha256(sha);
      if (!Number.isInteger(n) || n < 1 || n > MAX_CHUNK)
        throw new OutpostError('OUTPOST_BAD_INPUT', `chunk ${sha.slice(0, 12)} has an impossible size ${n}`);
      size += n;
    }
    if (size !== f.size)
      throw new OutpostError(
        'OUTPOST_BAD_INPUT',
        `'${f.path}': its chunks add up to ${size} bytes, not ${f.size}`,
      );
  }
}

/**
 * despooler, first step of a package job: keep the manifest and answer with the chunks this site
 * does not hold yet. Content already here — from an earlier version, another package or a
 * preloaded copy — is never asked for again.
 */
export async function acceptOffer(
  ctx: Pick<SiteContext, 'clock' | 'db' | 'log' | 'store'>,
  body: { job: string; manifest: PackageManifest },
): Promise<{ missing: string[] }> {
  assertManifest(body.manifest);
  await storeOfferedManifest(ctx.db, body.manifest, ctx.clock.now());
  const missing: string[] = [];
  for (const sha of chunksOf(body.manifest.files).keys()) {
    if (!(await ctx.store.has(sha))) missing.push(sha);
  }
  ctx.log('despooler').info(
    {
      job: body.job,
      package: body.manifest.id,
      version: body.manifest.sourceVersion,
      missing: missing.length,
    },
    'offer received',
  );
  return { missing };
}

/**
 * despooler: one transfer block from the parent — several chunks back to back, as listed in the
 * (signed) chunk list. Each chunk is checked against its hash; the good ones are synced together
 * before the block is acknowledged, a damaged one is discarded and named so the parent sends it
 * again. A body longer or shorter than its list is refused whole.
 */
export async function acceptBlock(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'metrics' | 'sink' | 'store'>,
  list: readonly BlockChunk[],
  body: AsyncIterable<Uint8Array>,
): Promise<{ stored: string[]; rejected: { sha: string; reason: string }[] }> {
  let arrived = 0;
  async function* parse(): AsyncGenerator<{ sha: string; data: Buffer }> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const piece of body) {
      let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      while (buf.length > 0) {
        const current = list[arrived];
        if (!current) throw new OutpostError('OUTPOST_BAD_INPUT', 'block body is longer than its chunk list');
        const take = Math.min(buf.length, current.size - pendingBytes);
        pending.push(buf.subarray(0, take));
        pendingBytes += take;
        buf = buf.subarray(take);
        if (pendingBytes === current.size) {
          arrived++;
          yield { sha: current.sha, data: pending.length === 1 ? pending[0] : Buffer.concat(pending) };
          pending = [];
          pendingBytes = 0;
        }
      }
    }
    if (arrived !== list.length) {
      throw new OutpostError(
        'OUTPOST_BAD_INPUT',
        `block body is truncated: ${arrived} of ${list.length} chunks arrived`,
      );
    }
  }
  // Each chunk is checked and written while the rest of the block is still arriving.
  const { rejected } = await ctx.store.putMany(parse()).catch((err: unknown) => {
    throw diskFullHere(ctx, err);
  });
  const bad = new Set(rejected.map((r) => r.sha));
  const stored = list.filter((c) => !bad.has(c.sha)).map((c) => c.sha);
  ctx.metrics.bytesReceived.inc(list.filter((c) => !bad.has(c.sha)).reduce((sum, c) => sum + c.size, 0));
  for (const r of rejected) {
    ctx.metrics.chunksRejected.inc();
    ctx.log('despooler').warn({ chunk: r.sha, err: r.reason }, 'chunk discarded');
    await postMessage(ctx.db, ctx.sink, ctx.clock.now(), {
      severity: 'warning',
      component: 'despooler',
      text: `discarded a damaged chunk from the parent: ${r.reason}`,
    });
  }
  return { stored, rejected };
}

/**
 * A content library too full for a block: the parent's job fails with this site's code in the
 * reason, and this site's own log says so too.
 */
function diskFullHere(ctx: Pick<SiteContext, 'config' | 'log'>, err: unknown): unknown {
  if (!(err instanceof OutpostError) || err.code !== 'OUTPOST_DISK_FULL') return err;
  const full = new OutpostError(err.code, `site ${ctx.config.code}: ${err.message}`, {
    hint: `free space in the content library of ${ctx.config.code}, then redistribute the package`,
    cause: err,
  });
  ctx.log('despooler').error({ err: full }, 'block refused: content library full');
  return full;
}

/**
 * despooler, last step: the parent hands over which DPs below (or at) this site the package is
 * assigned to. With DPs, every chunk of the version must be here first; then this site installs it
 * on its own DP and passes it on to its children. With none (an unassign), a package that never
 * completed here is forgotten at once, its chunks freed: no DP at or below this site can hold it,
 * and `held: false` tells the parent so, since no removal will be reported from here.
 */
export async function acceptAssignments(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'store' | 'wake'>,
  body: { job: string; package: string; sourceVersion: number | null; dps: string[] },
): Promise<{ ok: true; held: boolean }> {
  const pkg = assertPackageId(body.package);
  const self = ctx.config.code;
  const rows: { dp: string; site: string }[] = [];
  for (const dp of body.dps) {
    const { site } = parseDpName(dp);
    if (site !== self && !(await nextHop(ctx.db, self, site))) {
      throw new OutpostError('OUTPOST_SITE_NOT_FOUND', `DP ${dp} is not at or below ${self}`);
    }
    rows.push({ dp, site });
  }
  const now = ctx.clock.now();
  if (rows.length > 0) {
    const row = await getPackageRow(ctx.db, pkg);
    if (row.source_version !== body.sourceVersion) {
      throw new OutpostError(
        'OUTPOST_CONTENT_MISSING',
        `package ${pkg} version ${body.sourceVersion} was not offered here (holding ${row.source_version})`,
      );
    }
    const files = await ctx.db
      .selectFrom('package_files')
      .select('chunks')
      .where('package_id', '=', pkg)
      .where('source_version', '=', row.source_version)
      .execute();
    for (const f of files) {
      for (const [sha] of JSON.parse(f.chunks) as [string, number][]) {
        if (!(await ctx.store.has(sha)))
          throw new OutpostError(
            'OUTPOST_CONTENT_MISSING',
            `package ${pkg} is missing chunk ${sha.slice(0, 12)}`,
          );
      }
    }
  }
  // What this site held of the package before: only a version that completed here can have been
  // installed or passed on below.
  const before = await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('assignments').where('package_id', '=', pkg).execute();
    if (rows.length === 0) {
      const row = await trx
        .selectFrom('packages')
        .select('complete_version')
        .where('id', '=', pkg)
        .executeTakeFirst();
      if (row?.complete_version === null) await forgetPackage(trx, pkg);
      return row ? (row.complete_version === null ? 'partial' : 'complete') : 'nothing';
    }
    await trx
      .insertInto('assignments')
      .values(rows.map((r) => ({ package_id: pkg, dp: r.dp, site_code: r.site, created_at: now })))
      .execute();
    await trx
      .updateTable('packages')
      .set({ complete_version: body.sourceVersion })
      .where('id', '=', pkg)
      .execute();
    return 'complete';
  });
  ctx
    .log('despooler')
    .info(
      { job: body.job, package: pkg, dps: body.dps },
      rows.length ? 'package complete; assignments applied' : 'package unassigned',
    );
  if (before === 'partial') {
    const freed = await collectGarbage(ctx);
    ctx.log('despooler').info({ package: pkg, chunks: freed }, 'package never completed here: forgotten');
  }
  ctx.wake.notify('distmgr');
  return { ok: true, held: before === 'complete' };
}
