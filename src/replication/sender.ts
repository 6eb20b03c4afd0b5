import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Selectable } from 'kysely';
import { chunksOf } from '../content/index.js';
import type { SiteContext, TransferRegistry } from '../core/index.js';
import type { AddressesTable, JobsTable } from '../db/index.js';
import { OutpostError } from '../errors/index.js';
import { claimJob, reclaimExpired } from '../jobs/index.js';
import { packageManifest } from '../packages/index.js';
import { s2sJson, s2sPutBlock } from '../s2s/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';
import { TRANSFER_BLOCK } from './despooler.js';
import { inSchedule, RateLimiter, throttledAll } from './throttle.js';

const LEASE_MS = 60_000;
const CHUNK_TRIES = 3;
/** How often a running job's progress (and lease) is written: not once per block. */
const PROGRESS_EVERY_MS = 500;

type Block = { sha: string; size: number }[];

/** Groups chunks into transfer blocks of at most TRANSFER_BLOCK bytes (a lone larger chunk is its own block). */
function planBlocks(chunks: Block): Block[] {
  const blocks: Block[] = [];
  let current: Block = [];
  let bytes = 0;
  for (const c of chunks) {
    if (current.length > 0 && bytes + c.size > TRANSFER_BLOCK) {
      blocks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(c);
    bytes += c.size;
  }
  if (current.length) blocks.push(current);
  return blocks;
}

class Cancelled extends Error {}

/**
 * sender: runs due jobs to child sites, honouring each address's schedule, concurrency, rate
 * limit, retries and retry delay. A package job is a conversation about hashes: offer the manifest,
 * send only the chunks the child lacks (each verified there), then hand over the assignments.
 */
export class JobSender {
  private readonly owner = `sender-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly limiters = new Map<string, RateLimiter>();
  private readonly inflight = new Set<Promise<void>>();

  private readonly transfers: TransferRegistry;

  constructor(
    private readonly ctx: Pick<
      SiteContext,
      'clock' | 'db' | 'identity' | 'log' | 'metrics' | 'sink' | 'store' | 'transfers' | 'wake'
    >,
  ) {
    this.transfers = ctx.transfers;
  }

  /** One round: reclaim dead leases and start every job that may run now. */
  async tick(): Promise<void> {
    const { db, clock } = this.ctx;
    const now = clock.now();
    await reclaimExpired(db, now);
    const due = await db
      .selectFrom('jobs')
      .innerJoin('sites', 'sites.code', 'jobs.site_code')
      .innerJoin('addresses', 'addresses.site_code', 'jobs.site_code')
      .selectAll('jobs')
      .select([
        'sites.state as site_state',
        'addresses.schedule',
        'addresses.concurrency',
        'addresses.rate_limit_kbps',
        'addresses.url as address_url',
        'addresses.retries',
        'addresses.retry_delay_ms',
      ])
      .where('jobs.state', 'in', ['pending', 'retrying'])
      .where('jobs.next_attempt_at', '<=', now)
      .orderBy('jobs.created_at')
      .execute();
    for (const job of due) {
      if (job.site_state !== 'active' && job.site_state !== 'unreachable') continue;
      if (!inSchedule(job.schedule, now)) continue;
      if (this.transfers.countFor(job.site_code) >= job.concurrency) continue;
      if (!(await claimJob(db, job.id, this.owner, LEASE_MS, now))) continue;
      const address: Selectable<AddressesTable> = {
        site_code: job.site_code,
        url: job.address_url,
        rate_limit_kbps: job.rate_limit_kbps,
        schedule: job.schedule,
        concurrency: job.concurrency,
        retries: job.retries,
        retry_delay_ms: job.retry_delay_ms,
        updated_at: now,
      };
      const run = this.run(job, address).finally(() => this.inflight.delete(run));
      this.inflight.add(run);
    }
  }

  /** Waits for transfers in flight (after their signals were aborted) so shutdown is clean. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  private limiterFor(address: Selectable<AddressesTable>): RateLimiter | null {
    if (!address.rate_limit_kbps) return null;
    const rate = address.rate_limit_kbps * 1024;
    let limiter = this.limiters.get(address.site_code);
    if (!limiter) {
      limiter = new RateLimiter(rate);
      this.limiters.set(address.site_code, limiter);
    }
    limiter.setRate(rate);
    return limiter;
  }

  private async run(job: Selectable<JobsTable>, address: Selectable<AddressesTable>): Promise<void> {
    const { ctx } = this;
    const controller = this.transfers.start(job.id, job.site_code);
    const log = ctx.log('sender').child({ job: job.id, site: job.site_code, package: job.package_id });
    try {
      if (job.kind === 'package') await this.sendPackage(job, address, controller.signal);
      else if (job.kind === 'unassign') await this.sendAssignments(job, address, [], controller.signal);
      else
        await s2sJson(
          ctx.identity,
          address.url,
          'POST',
          '/s2s/v1/sites/purge',
          { code: job.subject },
          controller.signal,
        );
      const done = await this.finishIf(job.id, async (trx, now) => {
        await trx
          .updateTable('jobs')
          .set({
            state: 'completed',
            last_error: null,
            lease_owner: null,
            lease_expires_at: null,
            updated_at: now,
          })
          .where('id', '=', job.id)
          .execute();
        if (job.kind === 'package') {
          const delivery = { source_version: job.source_version ?? 0, dps: job.dps, updated_at: now };
          await trx
            .insertInto('deliveries')
            .values({ site_code: job.site_code, package_id: job.package_id ?? '', ...delivery })
            .onConflict((oc) => oc.columns(['site_code', 'package_id']).doUpdateSet(delivery))
            .execute();
        } else if (job.kind === 'unassign') {
          await trx
            .deleteFrom('deliveries')
            .where('site_code', '=', job.site_code)
            .where('package_id', '=', job.package_id ?? '')
            .execute();
        }
      });
      if (done) log.info('job completed');
    } catch (err) {
      if (err instanceof Cancelled || controller.signal.aborted) {
        log.info('job stopped: cancelled');
      } else {
        await this.failAttempt(job, address, err as Error);
      }
    } finally {
      this.transfers.finish(job.id);
      ctx.wake.notify('distmgr');
    }
  }

  /** Runs `fn` in a transaction only if the job is still ours and active (not cancelled meanwhile). */
  private async finishIf(
    id: string,
    fn: (trx: SiteContext['db'], now: number) => Promise<void>,
  ): Promise<boolean> {
    return this.ctx.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('jobs')
        .select(['state', 'lease_owner'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (row?.state !== 'active' || row.lease_owner !== this.owner) return false;
      await fn(trx, this.ctx.clock.now());
      return true;
    });
  }

  private async assertStillActive(id: string): Promise<void> {
    const row = await this.ctx.db
      .selectFrom('jobs')
      .select(['state', 'lease_owner'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (row?.state !== 'active' || row.lease_owner !== this.owner) throw new Cancelled();
  }

  private async sendPackage(
    job: Selectable<JobsTable>,
    address: Selectable<AddressesTable>,
    signal: AbortSignal,
  ): Promise<void> {
    const { ctx } = this;
    const manifest = await packageManifest(ctx.db, job.package_id ?? '');
    if (manifest.sourceVersion !== job.source_version) throw new Cancelled();
    const offer = await s2sJson<{ missing: string[] }>(
      ctx.identity,
      address.url,
      'POST',
      '/s2s/v1/packages/offer',
      { job: job.id, manifest },
      signal,
    );
    const sizes = chunksOf(manifest.files);
    const missing = offer.missing.filter((sha) => sizes.has(sha));
    const total = missing.reduce((sum, sha) => sum + (sizes.get(sha) ?? 0), 0);
    await ctx.db
      .updateTable('jobs')
      .set({ bytes_total: total, bytes_sent: 0, updated_at: ctx.clock.now() })
      .where('id', '=', job.id)
      .execute();
    const limiter = this.limiterFor(address);
    const blocks = planBlocks(missing.map((sha) => ({ sha, size: sizes.get(sha) ?? 0 })));
    let sent = 0;
    let lastProgress = 0;
    // Read the next block while this one is on the wire; only one block is ever unacknowledged.
    const read = (block: Block) => Promise.all(block.map((c) => ctx.store.read(c.sha)));
    let next = blocks.length ? read(blocks[0]) : null;
    for (let i = 0; i < blocks.length; i++) {
      await this.assertStillActive(job.id);
      if (signal.aborted) throw new Cancelled();
      let block = blocks[i];
      let datas = await (next as Promise<Buffer[]>);
      next = i + 1 < blocks.length ? read(blocks[i + 1]) : null;
      next?.catch(() => undefined);
      for (let attempt = 1; ; attempt++) {
        const body = Readable.from(limiter ? throttledAll(datas, limiter, signal) : datas);
        const { rejected } = await s2sPutBlock(ctx.identity, address.url, block, body, signal);
        const accepted = block
          .filter((c) => !rejected.some((r) => r.sha === c.sha))
          .reduce((sum, c) => sum + c.size, 0);
        sent += accepted;
        ctx.metrics.bytesSent.inc({ site: job.site_code }, accepted);
        if (rejected.length === 0) break;
        // A chunk damaged on the way was discarded by the child: send just those again, at once.
        if (attempt >= CHUNK_TRIES || signal.aborted) {
          // Rejected every time: the damage may be in this site's own copy, not on the wire.
          const ownCopy = await ctx.store.get(rejected[0].sha).then(
            () => 'the copy here is sound, so the damage is on the way',
            (err: Error) => err.message,
          );
          throw new OutpostError(
            'OUTPOST_HASH_MISMATCH',
            `child kept rejecting chunks: ${rejected[0].reason}; ${ownCopy}`,
          );
        }
        ctx
          .log('sender')
          .warn(
            { job: job.id, chunks: rejected.map((r) => r.sha) },
            'child rejected damaged chunks; resending',
          );
        const again = new Set(rejected.map((r) => r.sha));
        datas = datas.filter((_, k) => again.has(block[k].sha));
        block = block.filter((c) => again.has(c.sha));
      }
      const now = ctx.clock.now();
      if (now - lastProgress >= PROGRESS_EVERY_MS || i === blocks.length - 1) {
        lastProgress = now;
        await ctx.db
          .updateTable('jobs')
          .set({ bytes_sent: sent, lease_expires_at: now + LEASE_MS, updated_at: now })
          .where('id', '=', job.id)
          .execute();
      }
    }
    await this.assertStillActive(job.id);
    await this.sendAssignments(job, address, JSON.parse(job.dps) as string[], signal);
  }

  private async sendAssignments(
    job: Selectable<JobsTable>,
    address: Selectable<AddressesTable>,
    dps: string[],
    signal: AbortSignal,
  ): Promise<void> {
    await s2sJson(
      this.ctx.identity,
      address.url,
      'POST',
      '/s2s/v1/packages/assignments',
      { job: job.id, package: job.package_id, sourceVersion: job.source_version, dps },
      signal,
    );
  }

  private async failAttempt(
    job: Selectable<JobsTable>,
    address: Selectable<AddressesTable>,
    err: Error,
  ): Promise<void> {
    const { ctx } = this;
    const attempts = job.attempts + 1;
    const final = attempts > address.retries;
    const reason = err.message;
    const dps = JSON.parse(job.dps) as string[];
    await this.finishIf(job.id, async (trx, now) => {
      await trx
        .updateTable('jobs')
        .set({
          state: final ? 'failed' : 'retrying',
          attempts,
          last_error: reason,
          lease_owner: null,
          lease_expires_at: null,
          next_attempt_at: now + address.retry_delay_ms,
          updated_at: now,
        })
        .where('id', '=', job.id)
        .execute();
      if (job.kind === 'package' && job.package_id) {
        for (const dp of dps) {
          const current = await trx
            .selectFrom('package_status')
            .select(['state', 'source_version'])
            .where('package_id', '=', job.package_id)
            .where('dp', '=', dp)
            .executeTakeFirst();
          if (current?.state === 'Installed' && current.source_version === job.source_version) continue;
          await setPackageStatus(trx, ctx.sink, {
            package: job.package_id,
            sourceVersion: job.source_version ?? 0,
            site: dp.split('/')[0],
            dp,
            state: final ? 'Install Failed' : 'Install Retrying',
            error: reason,
            updatedAt: now,
          });
        }
      }
      await postMessage(trx, ctx.sink, now, {
        severity: final ? 'error' : 'warning',
        component: 'sender',
        text: final
          ? `job to ${job.site_code} failed after ${attempts} attempts: ${reason}`
          : `job to ${job.site_code} attempt ${attempts} failed, retrying: ${reason}`,
        package: job.package_id,
        job: job.id,
      });
    });
    ctx
      .log('sender')
      .warn({ job: job.id, site: job.site_code, attempts, final, err: reason }, 'job attempt failed');
  }
}
