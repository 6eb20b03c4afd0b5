import { Readable } from 'node:stream';
import type { Selectable } from 'kysely';
import { formatBytes } from '../common/index.js';
import { chunksOf } from '../content/index.js';
import type { SiteContext, TransferRegistry } from '../core/index.js';
import type { AddressesTable, JobKind } from '../db/index.js';
import { type ErrorKind, OutpostError } from '../errors/index.js';
import {
  claimJob,
  completeJob,
  failJob,
  holdsJob,
  type Job,
  type LeaseOwner,
  progressJob,
  reclaimExpired,
  renewOwner,
} from '../jobs/index.js';
import { packageManifest } from '../packages/index.js';
import { BLOCK_CHUNKS, type BlockChunk, S2S, s2sJson, s2sPutBlock, TRANSFER_BLOCK } from '../s2s/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';
import { clearStatusesBelow, forgetGiven } from './given.js';
import { inSchedule, RateLimiter, throttledAll } from './throttle.js';

const CHUNK_TRIES = 3;
/** How often a running job's progress (and lease) is written: not once per block. */
const PROGRESS_EVERY_MS = 500;
/**
 * Errors that another attempt cannot cure: the job fails at once instead of using up its retries.
 * A full disk at the child is one: it does not free itself, and each retry would only resend into
 * it; the administrator frees space and redistributes.
 */
const PERMANENT: ReadonlySet<ErrorKind> = new Set([
  'bad-input',
  'not-found',
  'conflict',
  'insufficient-storage',
]);

type Db = SiteContext['db'];
type Address = Selectable<AddressesTable>;
type Block = BlockChunk[];
/**
 * What the child answered to a job. After an unassign, `held: false` says nothing of the package
 * ever completed there (a child that predates the field says nothing: it held it).
 */
type Answer = { held?: boolean };

/** What one kind of job does, and what its completion or failure writes besides the job row. */
interface JobKindHandler {
  send(job: Job, address: Address, signal: AbortSignal): Promise<Answer>;
  /** Runs in the transaction that completes the job, with what the child answered. */
  completed?(trx: Db, job: Job, now: number, answer: Answer): Promise<void>;
  /** Runs in the transaction that fails (or retries) the job; `job` is the row as it now stands. */
  failed?(trx: Db, job: Job, now: number): Promise<void>;
}

/**
 * Groups chunks into transfer blocks of at most TRANSFER_BLOCK bytes and BLOCK_CHUNKS chunks (a
 * lone larger chunk is its own block).
 */
function planBlocks(chunks: Block): Block[] {
  const blocks: Block[] = [];
  let current: Block = [];
  let bytes = 0;
  for (const c of chunks) {
    if (current.length > 0 && (bytes + c.size > TRANSFER_BLOCK || current.length === BLOCK_CHUNKS)) {
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
 * Every change to a job's row goes through the jobs module, guarded by this sender's lease.
 */
export class JobSender {
  private lastRenewed = 0;
  private get owner(): string {
    return this.lease.owner;
  }
  private readonly limiters = new Map<string, RateLimiter>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly kinds: Record<JobKind, JobKindHandler> = {
    package: {
      send: (job, address, signal) => this.sendPackage(job, address, signal),
      completed: recordDelivery,
      failed: (trx, job, now) => this.markDpsFailed(trx, job, now),
    },
    unassign: {
      send: (job, address, signal) => this.sendAssignments(job, address, [], signal),
      completed: (trx, job, now, answer) => this.forgetDelivery(trx, job, now, answer),
    },
    purge: {
      send: (job, address, signal) => this.sendPurge(job, address, signal),
    },
  };

  private readonly transfers: TransferRegistry;

  constructor(
    private readonly ctx: Pick<
      SiteContext,
      'clock' | 'db' | 'identity' | 'log' | 'metrics' | 'sink' | 'store' | 'transfers' | 'wake'
    >,
    /** This process as a lease owner, registered in the site's database (see jobs' owners). */
    private readonly lease: LeaseOwner,
    private readonly leaseMs: number,
  ) {
    this.transfers = ctx.transfers;
  }

  /** One round: say this process still runs, reclaim dead leases and start every job that may run now. */
  async tick(): Promise<void> {
    const { db, clock } = this.ctx;
    const now = clock.now();
    if (now - this.lastRenewed >= this.leaseMs / 4) {
      await renewOwner(db, this.lease, now);
      this.lastRenewed = now;
    }
    await db.transaction().execute(async (trx) => {
      for (const job of await reclaimExpired(trx, now)) await this.reportFailure(trx, job, now);
    });
    const due = await db
      .selectFrom('jobs')
      .innerJoin('sites', 'sites.code', 'jobs.site_code')
      .innerJoin('addresses', 'addresses.site_code', 'jobs.site_code')
      .select([
        'jobs.id',
        'jobs.site_code',
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
    for (const row of due) {
      if (row.site_state !== 'active' && row.site_state !== 'unreachable') continue;
      if (!inSchedule(row.schedule, now)) continue;
      if (this.transfers.countFor(row.site_code) >= row.concurrency) continue;
      const job = await claimJob(db, row.id, this.owner, this.leaseMs, now);
      if (!job) continue;
      const address: Address = {
        site_code: row.site_code,
        url: row.address_url,
        rate_limit_kbps: row.rate_limit_kbps,
        schedule: row.schedule,
        concurrency: row.concurrency,
        retries: row.retries,
        retry_delay_ms: row.retry_delay_ms,
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

  private limiterFor(address: Address): RateLimiter | null {
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

  private async run(job: Job, address: Address): Promise<void> {
    const { ctx } = this;
    const controller = this.transfers.start(job.id, job.site_code);
    const log = ctx.log('sender').child({ job: job.id, site: job.site_code, package: job.package_id });
    const kind = this.kinds[job.kind];
    try {
      const answer = await kind.send(job, address, controller.signal);
      const done = await ctx.db.transaction().execute(async (trx) => {
        const now = ctx.clock.now();
        if (!(await completeJob(trx, job.id, this.owner, now))) return false;
        await kind.completed?.(trx, job, now, answer);
        return true;
      });
      if (done) log.info('job completed');
    } catch (err) {
      if (err instanceof Cancelled || controller.signal.aborted) {
        log.info('job stopped: cancelled');
      } else {
        await this.failAttempt(job, address, err);
      }
    } finally {
      this.transfers.finish(job.id);
      ctx.wake.notify('distmgr');
    }
  }

  /** Throws Cancelled once this sender no longer holds the job (cancelled, deleted or reclaimed). */
  private async assertStillHeld(id: string): Promise<void> {
    if (!(await holdsJob(this.ctx.db, id, this.owner))) throw new Cancelled();
  }

  private async progress(id: string, sent: number, now: number, total?: number): Promise<void> {
    if (!(await progressJob(this.ctx.db, id, this.owner, { sent, total }, this.leaseMs, now)))
      throw new Cancelled();
  }

  /**
   * Offers the manifest and returns the chunks the child lacks, with their sizes. The manifest is
   * not kept: for a package of 100,000 files it is most of the memory the job would hold.
   */
  private async offer(job: Job, address: Address, signal: AbortSignal): Promise<Block> {
    const manifest = await packageManifest(this.ctx.db, job.package_id ?? '');
    if (manifest.sourceVersion !== job.source_version) throw new Cancelled();
    const offer = await s2sJson<{ missing: string[] }>(
      this.ctx.identity,
      address.url,
      'POST',
      S2S.offer,
      { job: job.id, manifest },
      signal,
    );
    const sizes = chunksOf(manifest.files);
    return offer.missing.filter((sha) => sizes.has(sha)).map((sha) => ({ sha, size: sizes.get(sha) ?? 0 }));
  }

  private async sendPackage(job: Job, address: Address, signal: AbortSignal): Promise<Answer> {
    const { ctx } = this;
    const missing = await this.offer(job, address, signal);
    const total = missing.reduce((sum, c) => sum + c.size, 0);
    await this.progress(job.id, 0, ctx.clock.now(), total);
    const limiter = this.limiterFor(address);
    const blocks = planBlocks(missing);
    let sent = 0;
    let lastProgress = 0;
    // Read the next block while this one is on the wire; only one block is ever unacknowledged.
    const read = (block: Block) => Promise.all(block.map((c) => ctx.store.read(c.sha)));
    let next = blocks.length ? read(blocks[0]) : null;
    for (let i = 0; i < blocks.length; i++) {
      await this.assertStillHeld(job.id);
      if (signal.aborted) throw new Cancelled();
      let block = blocks[i];
      let datas = await (next as Promise<Buffer[]>);
      next = i + 1 < blocks.length ? read(blocks[i + 1]) : null;
      next?.catch(() => undefined);
      for (let attempt = 1; ; attempt++) {
        const body = Readable.from(limiter ? throttledAll(datas, limiter, signal) : datas);
        const { rejected } = await s2sPutBlock(ctx.identity, address.url, block, body, signal).catch(
          (err: unknown) => {
            throw withPackageNeed(err, job, total - sent);
          },
        );
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
        await this.progress(job.id, sent, now);
      }
    }
    await this.assertStillHeld(job.id);
    return this.sendAssignments(job, address, JSON.parse(job.dps) as string[], signal);
  }

  private async sendAssignments(
    job: Job,
    address: Address,
    dps: string[],
    signal: AbortSignal,
  ): Promise<Answer> {
    return s2sJson<Answer>(
      this.ctx.identity,
      address.url,
      'POST',
      S2S.assignments,
      { job: job.id, package: job.package_id, sourceVersion: job.source_version, dps },
      signal,
    );
  }

  private async sendPurge(job: Job, address: Address, signal: AbortSignal): Promise<Answer> {
    await s2sJson(this.ctx.identity, address.url, 'POST', S2S.sitePurge, { code: job.subject }, signal);
    return {};
  }

  /**
   * An unassign's completion: the child holds nothing of the package for anyone, and the jobs that
   * gave up on it are done with. When nothing of it ever completed there, no removal will come up
   * from below, so the statuses kept here for its DPs go now.
   */
  private async forgetDelivery(trx: Db, job: Job, now: number, answer: Answer): Promise<void> {
    const pkg = job.package_id ?? '';
    await forgetGiven(trx, job.site_code, pkg);
    if (answer.held === false) await clearStatusesBelow(trx, this.ctx.sink, job.site_code, pkg, now);
  }

  /** Ends this attempt: retrying, or failed when the error is permanent or no retries are left. */
  private async failAttempt(job: Job, address: Address, err: unknown): Promise<void> {
    const { ctx } = this;
    const reason = err instanceof Error ? err.message : String(err);
    const permanent = err instanceof OutpostError && PERMANENT.has(err.kind);
    const after = await ctx.db.transaction().execute(async (trx) => {
      const now = ctx.clock.now();
      const failure = {
        error: reason,
        permanent,
        retries: address.retries,
        retryDelayMs: address.retry_delay_ms,
      };
      const row = await failJob(trx, job.id, this.owner, failure, now);
      if (row) await this.reportFailure(trx, row, now);
      return row;
    });
    if (!after) return;
    ctx
      .log('sender')
      .warn(
        { job: job.id, site: job.site_code, attempts: after.attempts, state: after.state, err: reason },
        'job attempt failed',
      );
  }

  /** Status for a job that just failed or went back to retrying, in the transaction that did it. */
  private async reportFailure(trx: Db, job: Job, now: number): Promise<void> {
    await this.kinds[job.kind].failed?.(trx, job, now);
    const final = job.state === 'failed';
    const attempts = `${job.attempts} attempt${job.attempts === 1 ? '' : 's'}`;
    await postMessage(trx, this.ctx.sink, now, {
      severity: final ? 'error' : 'warning',
      component: 'sender',
      text: final
        ? `job to ${job.site_code} failed after ${attempts}: ${job.last_error}`
        : `job to ${job.site_code} attempt ${job.attempts} failed, retrying: ${job.last_error}`,
      package: job.package_id,
      job: job.id,
      subject: job.site_code,
    });
  }

  /** Install Retrying or Install Failed on each DP the job was for, unless it already holds this version. */
  private async markDpsFailed(trx: Db, job: Job, now: number): Promise<void> {
    if (!job.package_id) return;
    for (const dp of JSON.parse(job.dps) as string[]) {
      const current = await trx
        .selectFrom('package_status')
        .select(['state', 'source_version'])
        .where('package_id', '=', job.package_id)
        .where('dp', '=', dp)
        .executeTakeFirst();
      if (current?.state === 'Installed' && current.source_version === job.source_version) continue;
      await setPackageStatus(trx, this.ctx.sink, {
        package: job.package_id,
        sourceVersion: job.source_version ?? 0,
        site: dp.split('/')[0],
        dp,
        state: job.state === 'failed' ? 'Install Failed' : 'Install Retrying',
        error: job.last_error,
        updatedAt: now,
      });
    }
  }
}

/** A package job's completion: the child now holds this version for these DPs. */
async function recordDelivery(trx: Db, job: Job, now: number): Promise<void> {
  const delivery = { source_version: job.source_version ?? 0, dps: job.dps, updated_at: now };
  await trx
    .insertInto('deliveries')
    .values({ site_code: job.site_code, package_id: job.package_id ?? '', ...delivery })
    .onConflict((oc) => oc.columns(['site_code', 'package_id']).doUpdateSet(delivery))
    .execute();
}

/** A full disk at the child, with what the rest of this package still needs there. */
function withPackageNeed(err: unknown, job: Job, remaining: number): unknown {
  if (!(err instanceof OutpostError) || err.code !== 'OUTPOST_DISK_FULL') return err;
  return new OutpostError(
    err.code,
    `${err.message}; package ${job.package_id} needs ${formatBytes(remaining)} more there`,
    { hint: err.hint, cause: err },
  );
}
