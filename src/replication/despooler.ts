import { type ChunkBytes, type ChunkData, hashPool } from '../content/index.js';
import type { SiteContext } from '../core/index.js';
import { OutpostError } from '../errors/index.js';
import { assertPackageId, getPackageRow, manifestPages } from '../packages/index.js';
import type { BlockChunk } from '../s2s/index.js';
import { nextHop, parseDpName } from '../sites/index.js';
import { postMessage, setInstallPending } from '../status/index.js';
import { collectGarbage, forgetPackage } from './gc.js';
import { sendAgain } from './given.js';

/**
 * despooler: one transfer block from the parent `from` — several chunks back to back, as listed in
 * the (signed) chunk list. Each chunk is checked against its hash on the process's hash workers
 * (off the event loop, so the next bytes are received while the last are hashed); the good ones are
 * written as they come and made durable in the store's next group commit (one round of syncs for
 * every block waiting at that moment) before the block is acknowledged. A damaged one is discarded
 * and named so the parent sends it again. A body longer or shorter than its list is refused whole.
 */
export async function acceptBlock(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'metrics' | 'sink' | 'store'>,
  from: string,
  list: readonly BlockChunk[],
  body: AsyncIterable<Uint8Array>,
): Promise<{ stored: string[]; rejected: { sha: string; reason: string }[] }> {
  let arrived = 0;
  // Each chunk is gathered straight into a buffer of its own (the one copy from the socket's
  // buffers), which then moves to a hash worker and back without being copied again.
  async function* parse(): AsyncGenerator<ChunkBytes> {
    let chunk: Buffer | null = null;
    let filled = 0;
    for await (const piece of body) {
      let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      while (buf.length > 0) {
        const current = list[arrived];
        if (!current) throw new OutpostError('OUTPOST_BAD_INPUT', 'block body is longer than its chunk list');
        chunk ??= Buffer.allocUnsafeSlow(current.size);
        const take = Math.min(buf.length, current.size - filled);
        buf.copy(chunk, filled, 0, take);
        filled += take;
        buf = buf.subarray(take);
        if (filled === current.size) {
          arrived++;
          yield { sha: current.sha, size: current.size, data: chunk };
          chunk = null;
          filled = 0;
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
  const rejected: { sha: string; reason: string }[] = [];
  async function* verified(): AsyncGenerator<ChunkData> {
    for await (const v of hashPool().verifyAll(parse())) {
      if (v.ok) yield { sha: v.chunk.sha, data: v.data };
      else
        rejected.push({ sha: v.chunk.sha, reason: `chunk ${v.chunk.sha.slice(0, 12)} arrived ${v.reason}` });
    }
  }
  // Each chunk is checked and written while the rest of the block is still arriving.
  await ctx.store.putMany(verified(), { verified: true }).catch((err: unknown) => {
    throw diskFullHere(ctx, err);
  });
  const bad = new Set(rejected.map((r) => r.sha));
  const stored = list.filter((c) => !bad.has(c.sha)).map((c) => c.sha);
  ctx.metrics.bytesReceived.inc(
    { site: from },
    list.filter((c) => !bad.has(c.sha)).reduce((sum, c) => sum + c.size, 0),
  );
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
export function diskFullHere(ctx: Pick<SiteContext, 'config' | 'log'>, err: unknown): unknown {
  if (!(err instanceof OutpostError) || err.code !== 'OUTPOST_DISK_FULL') return err;
  const full = new OutpostError(err.code, `site ${ctx.config.code}: ${err.message}`, {
    hint: `free space in the content library of ${ctx.config.code}, then redistribute the package`,
    cause: err,
  });
  ctx.log('despooler').error({ err: full }, 'block refused: content library full');
  return full;
}

/**
 * The origin asked for `pkg` to be sent to `target` again, and this site is on the way: the DP here
 * is verified again, or the way to the next hop starts afresh (its job that gave up and what that
 * child was given are forgotten, so distmgr makes the job again, and the count goes on down with
 * it). The status here says a new attempt is under way until the real outcome replaces it.
 */
async function redistributeHere(
  trx: SiteContext['db'],
  ctx: Pick<SiteContext, 'config' | 'sink'>,
  pkg: string,
  version: number,
  target: { dp: string; site: string },
  now: number,
): Promise<void> {
  const here = target.site === ctx.config.code;
  const hop = here ? null : await nextHop(trx, ctx.config.code, target.site);
  if (hop) await sendAgain(trx, hop, pkg, now);
  await setInstallPending(trx, ctx.sink, { package: pkg, sourceVersion: version, ...target }, now);
  await postMessage(trx, ctx.sink, now, {
    severity: 'info',
    component: 'distmgr',
    text: here
      ? `redistribute of package ${pkg} asked for by the origin: verifying it again on DP ${target.dp}`
      : `redistribute of package ${pkg} to ${target.dp} asked for by the origin: sending it to ${hop} again`,
    package: pkg,
    subject: target.site,
  });
}

/**
 * despooler, last step: the parent hands over which DPs below (or at) this site the package is
 * assigned to. With DPs, every chunk of the version must be here first; then this site installs it
 * on its own DP and passes it on to its children. With none (an unassign), a package that never
 * completed here is forgotten at once, its chunks freed: no DP at or below this site can hold it,
 * and `held: false` tells the parent so, since no removal will be reported from here.
 */
export async function acceptAssignments(
  ctx: Pick<SiteContext, 'clock' | 'config' | 'db' | 'log' | 'sink' | 'store' | 'wake'>,
  body: {
    job: string;
    package: string;
    sourceVersion: number | null;
    dps: string[];
    redistributions?: Record<string, number>;
  },
): Promise<{ ok: true; held: boolean }> {
  const pkg = assertPackageId(body.package);
  const self = ctx.config.code;
  const rows: { dp: string; site: string }[] = [];
  for (const dp of body.dps) {
    const { site, name } = parseDpName(dp);
    if (site !== self && !(await nextHop(ctx.db, self, site))) {
      throw new OutpostError('OUTPOST_SITE_NOT_FOUND', `DP ${dp} is not at or below ${self}`);
    }
    // A named DP removed below while this job was on its way: its removal is on its way up to the
    // origin, which will stop sending to it.
    if (
      name !== null &&
      !(await ctx.db.selectFrom('dps').select('dp').where('dp', '=', dp).executeTakeFirst())
    ) {
      ctx
        .log('despooler')
        .warn({ job: body.job, package: pkg, dp }, 'assignment to a DP not known here ignored');
      continue;
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
    for await (const page of manifestPages(ctx.db, pkg, row.source_version)) {
      for (const [sha] of page.flatMap((f) => f.chunks)) {
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
    const counted = await trx
      .selectFrom('assignments')
      .select(['dp', 'redistributions'])
      .where('package_id', '=', pkg)
      .execute();
    const countsHere = new Map(counted.map((c) => [c.dp, Number(c.redistributions)]));
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
    const count = (dp: string) => body.redistributions?.[dp] ?? 0;
    await trx
      .insertInto('assignments')
      .values(
        rows.map((r) => ({
          package_id: pkg,
          dp: r.dp,
          site_code: r.site,
          created_at: now,
          redistributions: count(r.dp),
        })),
      )
      .execute();
    // Only where this site was given the DP before: a new assignment is sent in full anyway.
    const asked = rows.filter((r) => count(r.dp) > (countsHere.get(r.dp) ?? Number.POSITIVE_INFINITY));
    for (const r of asked) await redistributeHere(trx, ctx, pkg, body.sourceVersion ?? 0, r, now);
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
