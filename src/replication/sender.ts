import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Selectable } from 'kysely';
import { formatBytes, splitLines } from '../common/index.js';
import type { ManifestFile } from '../content/index.js';
import { DEFAULT_SETTINGS, type SiteContext, type TransferRegistry } from '../core/index.js';
import type { AddressesTable, JobKind } from '../db/index.js';
import { type ErrorKind, OutpostError } from '../errors/index.js';
import {
  claimNext,
  completeJob,
  failJob,
  holdsJob,
  type Job,
  type LeaseOwner,
  progressJob,
  reclaimExpired,
  renewOwner,
} from '../jobs/index.js';
import { manifestHeader, manifestPages } from '../packages/index.js';
import {
  type BlockChunk,
  type ManifestHeader,
  ndjsonLine,
  OfferAnswerLine,
  planBlocks,
  readLine,
  S2S,
  s2sJson,
  s2sPostStream,
  s2sPutBlock,
  TRANSFER_WINDOW,
} from '../s2s/index.js';
import { postMessage, setPackageStatus } from '../status/index.js';
import { isHeld } from './addresses.js';
import { clearStatusesBelow, forgetGiven } from './given.js';
import { type MissingChunk, sendPatches } from './patch.js';
import { inSchedule, RateLimiter, throttledAll } from './throttle.js';
import { transferred } from './transferred.js';

const CHUNK_TRIES = 3;
/**
 * How often a running job's progress (and lease) is written while it sends: on a timer, since one
 * block (up to 8 MiB) takes minutes on a slow link, and no more often, to bound database writes.
 */
const PROGRESS_EVERY_MS = 1000;
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

class Cancelled extends Error {}

/**
 * An offer's body (NDJSON: a header line, then a line per file), read from the database a page at a
 * time each time it is produced; `onPage` sees each page of files on the way.
 */
async function* offerLines(
  db: Db,
  job: string,
  header: ManifestHeader,
  onPage?: (files: ManifestFile[]) => void,
): AsyncGenerator<Buffer> {
  yield Buffer.from(ndjsonLine({ job, ...header }));
  for await (const page of manifestPages(db, header.id, header.sourceVersion)) {
    onPage?.(page);
    yield Buffer.from(page.map(ndjsonLine).join(''));
  }
}

/** The most an answer line to an offer may hold: a chunk's hash, or the count that ends it. */
const ANSWER_LINE = 128 * 1024;

/**
 * The first reading of an offer: its hash and length, and the size of each of its distinct chunks;
 * throws Cancelled when the version's files changed while it was read.
 */
async function hashOffer(db: Db, job: string, header: ManifestHeader) {
  const sizes = new Map<string, number>();
  let files = 0;
  const hash = createHash('sha256');
  let bytes = 0;
  const notePage = (page: ManifestFile[]) => {
    files += page.length;
    for (const f of page) for (const [sha, size] of f.chunks) sizes.set(sha, size);
  };
  for await (const piece of offerLines(db, job, header, notePage)) {
    hash.update(piece);
    bytes += piece.length;
  }
  if (files !== header.files) throw new Cancelled();
  return { sha256: hash.digest('hex'), bytes, sizes };
}

/**
 * Reads the child's answer to an offer as it arrives: the chunks it lacks, with their sizes from
 * `sizes` (which it empties as it goes). Only the offered version's chunks are kept, each once.
 */
async function readMissing(
  answer: AsyncIterable<Uint8Array>,
  sizes: Map<string, number>,
  site: string,
): Promise<MissingChunk[]> {
  const missing: MissingChunk[] = [];
  let named = 0;
  let end: number | undefined;
  try {
    for await (const line of splitLines(answer, ANSWER_LINE)) {
      if (end !== undefined) throw new OutpostError('OUTPOST_BAD_INPUT', 'a line follows its last line');
      const read = readLine(OfferAnswerLine, line, 'a line');
      if ('end' in read) {
        end = read.end;
        continue;
      }
      named++;
      const size = sizes.get(read.missing);
      if (size === undefined) continue;
      sizes.delete(read.missing);
      missing.push({ sha: read.missing, size, basis: read.basis, signature: read.signature });
    }
    if (end !== named) throw new OutpostError('OUTPOST_BAD_INPUT', 'it was cut short');
  } catch (err) {
    if (!(err instanceof OutpostError) || err.kind === 'unavailable') throw err;
    // Not the child's final word (a proxy may have cut it): another attempt asks again.
    throw new OutpostError('OUTPOST_UNREACHABLE', `${site} answered the offer unreadably: ${err.message}`, {
      cause: err,
    });
  }
  return missing;
}

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
  /** Jobs this process runs now on links with a rate limit, per link. */
  private readonly limitedRuns = new Map<string, number>();
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
    /** Whether the database locks rows (PostgreSQL: other processes of the site may share it). */
    private readonly rowLocks = false,
    /** Jobs this process runs at once, over all links. */
    private readonly maxTransfers = DEFAULT_SETTINGS.maxTransfers,
    /**
     * Whether this process may send on a rate-limited link now (a role leased among the processes
     * sharing the database): the limit is kept in one process's memory, so one process sends on
     * such a link at a time, and the link as a whole keeps to its limit.
     */
    private readonly leadsLink: (site: string) => Promise<boolean> = async () => true,
  ) {
    this.transfers = ctx.transfers;
  }

  /** One round: say this process still runs, reclaim dead leases and start every job that may run now. */
  async tick(): Promise<void> {
    const { db, clock } = this.ctx;
    const now = clock.now();
    this.ctx.metrics.senderRounds.inc();
    if (now - this.lastRenewed >= this.leaseMs / 4) {
      await renewOwner(db, this.lease, now);
      this.lastRenewed = now;
    }
    await db.transaction().execute(async (trx) => {
      for (const job of await reclaimExpired(trx, now)) await this.reportFailure(trx, job, now);
    });
    // One row per link with a job due, oldest first, grouped in the database: after a package is
    // assigned to 500 sites (or a clone) thousands of jobs are due, and only their links matter here.
    const links = await db
      .selectFrom((eb) =>
        eb
          .selectFrom('jobs')
          .select(['site_code', (f) => f.fn.min('created_at').as('first_created')])
          .where('state', 'in', ['pending', 'retrying'])
          .where('next_attempt_at', '<=', now)
          .groupBy('site_code')
          .as('due'),
      )
      .innerJoin('sites', 'sites.code', 'due.site_code')
      .innerJoin('addresses', 'addresses.site_code', 'due.site_code')
      .select([
        'due.site_code',
        'sites.state as site_state',
        'addresses.schedule',
        'addresses.concurrency',
        'addresses.rate_limit_kbps',
        'addresses.url as address_url',
        'addresses.retries',
        'addresses.retry_delay_ms',
        'addresses.hold_generation',
        'sites.generation',
      ])
      .orderBy('due.first_created')
      .orderBy('due.site_code')
      .execute();
    // A rate-limited link this process sends on keeps its lease while its jobs run, due jobs or not.
    for (const site of this.limitedRuns.keys()) await this.leadsLink(site);
    for (const row of links) {
      if (row.site_state !== 'active' && row.site_state !== 'unreachable') continue;
      if (row.rate_limit_kbps && !(await this.leadsLink(row.site_code))) continue;
      if (!inSchedule(row.schedule, now)) continue;
      if (isHeld(row.hold_generation, row.generation)) continue;
      const address: Address = {
        site_code: row.site_code,
        url: row.address_url,
        rate_limit_kbps: row.rate_limit_kbps,
        schedule: row.schedule,
        concurrency: row.concurrency,
        retries: row.retries,
        retry_delay_ms: row.retry_delay_ms,
        hold_generation: row.hold_generation,
        updated_at: now,
      };
      // The link's concurrency counts the jobs active in every process sharing the database.
      const link = { site: row.site_code, concurrency: row.concurrency };
      for (;;) {
        if (this.inflight.size >= this.maxTransfers) return;
        const job = await claimNext(db, link, this.owner, this.leaseMs, now, this.rowLocks);
        if (!job) break;
        this.start(job, address);
      }
    }
  }

  private start(job: Job, address: Address): void {
    const site = job.site_code;
    const limited = !!address.rate_limit_kbps;
    if (limited) this.limitedRuns.set(site, (this.limitedRuns.get(site) ?? 0) + 1);
    const run = this.run(job, address).finally(() => {
      this.inflight.delete(run);
      if (!limited) return;
      const left = (this.limitedRuns.get(site) ?? 1) - 1;
      if (left > 0) this.limitedRuns.set(site, left);
      else this.limitedRuns.delete(site);
    });
    this.inflight.add(run);
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
    const controller = this.transfers.start(job.id);
    const log = ctx.log('sender').child({ job: job.id, peer: job.site_code, package: job.package_id });
    const kind = this.kinds[job.kind];
    const started = ctx.clock.now();
    try {
      const answer = await kind.send(job, address, controller.signal);
      const done = await ctx.db.transaction().execute(async (trx) => {
        const now = ctx.clock.now();
        const row = await completeJob(trx, job.id, this.owner, now);
        if (row) await kind.completed?.(trx, job, now, answer);
        return row;
      });
      if (done) {
        const t = transferred(done.bytes_sent, started, ctx.clock.now());
        log.info(t.fields, `job completed: ${t.text}`);
      }
    } catch (err) {
      if (err instanceof Cancelled || controller.signal.aborted) {
        log.info('job stopped: cancelled');
      } else {
        await this.failAttempt(job, address, err, started);
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
   * streamed, never held: for a package of 100,000 files it would be most of the memory the job
   * holds. Its signature covers the body's hash, which must be known before the body is sent, so
   * the body is produced twice from the database: once to hash it, noting the size of each chunk
   * (the one map kept: it is what the sizes of the chunks asked for come from, and it lets only
   * this version's chunks be sent), then again to send it, checked on the way against the first.
   * Files of a version never change, only go with a newer one: a body that came out different
   * means the job is stale, and it is cut off before its end so the child keeps none of it.
   */
  private async offer(job: Job, address: Address, signal: AbortSignal): Promise<MissingChunk[]> {
    const { db } = this.ctx;
    const header = await manifestHeader(db, job.package_id ?? '');
    if (header.sourceVersion !== job.source_version) throw new Cancelled();
    const first = await hashOffer(db, job.id, header);
    let changed = false;
    async function* asHashed(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      const again = createHash('sha256');
      let sent = 0;
      let last: Buffer | undefined;
      for await (const piece of pieces) {
        if (last) yield last;
        again.update(piece);
        sent += piece.length;
        last = piece;
        if (sent > first.bytes) break;
      }
      changed = sent !== first.bytes || again.digest('hex') !== first.sha256;
      if (changed) throw new Cancelled();
      if (last) yield last;
    }
    const content = asHashed(offerLines(db, job.id, header));
    const answer = await s2sPostStream(
      this.ctx.identity,
      address.url,
      S2S.offer,
      { sha256: first.sha256, bytes: first.bytes, content },
      signal,
    ).catch((err: unknown) => {
      throw changed ? new Cancelled() : err;
    });
    return readMissing(answer, first.sizes, job.site_code);
  }

  private async sendPackage(job: Job, address: Address, signal: AbortSignal): Promise<Answer> {
    const { ctx } = this;
    const missing = await this.offer(job, address, signal);
    const total = missing.reduce((sum, c) => sum + c.size, 0);
    await this.progress(job.id, 0, ctx.clock.now(), total);
    const limiter = this.limiterFor(address);
    let sent = 0;
    // Chunks the child holds an older copy of go first, as deltas; the rest (and any delta that
    // would save little) go whole, in blocks.
    const whole = await sendPatches(ctx, { site: job.site_code, url: address.url }, missing, {
      limiter,
      signal,
      stillHeld: () => this.assertStillHeld(job.id),
      sent: (bytes) => {
        sent += bytes;
      },
    }).catch((err: unknown) => {
      throw withPackageNeed(err, job, total - sent);
    });
    const blocks = planBlocks(whole.map((c) => ({ sha: c.sha, size: c.size })));
    // What of the blocks in flight has gone to the connection: the progress between acknowledgements.
    let onWire = 0;
    let writing: Promise<unknown> | null = null;
    const ticker = setInterval(() => {
      if (writing) return;
      // A job no longer held is noticed (and stopped) by the block loop; the timer only reports.
      writing = progressJob(
        ctx.db,
        job.id,
        this.owner,
        { sent: sent + onWire },
        this.leaseMs,
        ctx.clock.now(),
      )
        .catch(() => false)
        .finally(() => {
          writing = null;
        });
    }, PROGRESS_EVERY_MS);
    // One block failing stops the rest of the window with it.
    const window = new AbortController();
    const stopWindow = () => window.abort();
    signal.addEventListener('abort', stopWindow, { once: true });
    const sendBlock = async (first: Block, firstDatas: Buffer[]) => {
      let block = first;
      let datas = firstDatas;
      for (let attempt = 1; ; attempt++) {
        let wire = 0;
        const counted = async function* (pieces: AsyncIterable<Buffer>) {
          for await (const piece of pieces) {
            wire += piece.length;
            onWire += piece.length;
            yield piece;
          }
        };
        const body = Readable.from(counted(throttledAll(datas, limiter, window.signal)));
        ctx.metrics.blocksInFlight.inc({ site: job.site_code });
        const { rejected } = await s2sPutBlock(ctx.identity, address.url, block, body, window.signal)
          .catch((err: unknown) => {
            throw withPackageNeed(err, job, total - sent);
          })
          .finally(() => {
            onWire -= wire;
            ctx.metrics.blocksInFlight.dec({ site: job.site_code });
          });
        const accepted = block
          .filter((c) => !rejected.some((r) => r.sha === c.sha))
          .reduce((sum, c) => sum + c.size, 0);
        sent += accepted;
        ctx.metrics.bytesSent.inc({ site: job.site_code }, accepted);
        if (rejected.length === 0) return;
        // A chunk damaged on the way was discarded by the child: send just those again, at once.
        if (attempt >= CHUNK_TRIES || window.signal.aborted) {
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
    };
    const inFlight = new Set<Promise<void>>();
    let inFlightBytes = 0;
    let failure: { err: unknown } | null = null;
    try {
      // Blocks go out while the window has room, each acknowledged on its own; the next block is
      // read while the window is full, so it is ready the moment an acknowledgement frees room.
      const read = (block: Block) => Promise.all(block.map((c) => ctx.store.read(c.sha)));
      let next = blocks.length ? read(blocks[0]) : null;
      for (let i = 0; i < blocks.length; i++) {
        const bytes = blockBytes(blocks[i]);
        while (!failure && inFlight.size > 0 && inFlightBytes + bytes > TRANSFER_WINDOW)
          await Promise.race(inFlight);
        if (failure) break;
        await this.assertStillHeld(job.id);
        if (signal.aborted) throw new Cancelled();
        const datas = await (next as Promise<Buffer[]>);
        next = i + 1 < blocks.length ? read(blocks[i + 1]) : null;
        next?.catch(() => undefined);
        inFlightBytes += bytes;
        const task: Promise<void> = sendBlock(blocks[i], datas)
          .catch((err: unknown) => {
            failure ??= { err };
            window.abort();
          })
          .finally(() => {
            inFlightBytes -= bytes;
            inFlight.delete(task);
          });
        inFlight.add(task);
      }
      await Promise.all(inFlight);
      if (failure) throw (failure as { err: unknown }).err;
    } finally {
      window.abort();
      signal.removeEventListener('abort', stopWindow);
      await Promise.allSettled(inFlight);
      clearInterval(ticker);
      await writing;
    }
    if (missing.length) await this.progress(job.id, sent, ctx.clock.now());
    await this.assertStillHeld(job.id);
    return this.sendAssignments(job, address, JSON.parse(job.dps) as string[], signal);
  }

  private async sendAssignments(
    job: Job,
    address: Address,
    dps: string[],
    signal: AbortSignal,
  ): Promise<Answer> {
    // Read now, not when the job was made: a redistribute asked for since then goes down with it.
    const counts = await this.ctx.db
      .selectFrom('assignments')
      .select(['dp', 'redistributions'])
      .where('package_id', '=', job.package_id ?? '')
      .execute();
    const given = new Set(dps);
    const redistributions = Object.fromEntries(
      counts.filter((c) => given.has(c.dp)).map((c) => [c.dp, Number(c.redistributions)]),
    );
    return s2sJson<Answer>(
      this.ctx.identity,
      address.url,
      'POST',
      S2S.assignments,
      { job: job.id, package: job.package_id, sourceVersion: job.source_version, dps, redistributions },
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
  private async failAttempt(job: Job, address: Address, err: unknown, started: number): Promise<void> {
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
    const t = transferred(after.bytes_sent, started, ctx.clock.now());
    ctx.log('sender').warn(
      {
        job: job.id,
        peer: job.site_code,
        attempts: after.attempts,
        state: after.state,
        err: reason,
        ...t.fields,
      },
      `job attempt failed after ${t.text}`,
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

const blockBytes = (block: Block) => block.reduce((sum, c) => sum + c.size, 0);

/** A full disk at the child, with what the rest of this package still needs there. */
function withPackageNeed(err: unknown, job: Job, remaining: number): unknown {
  if (!(err instanceof OutpostError) || err.code !== 'OUTPOST_DISK_FULL') return err;
  return new OutpostError(
    err.code,
    `${err.message}; package ${job.package_id} needs ${formatBytes(remaining)} more there`,
    { hint: err.hint, cause: err },
  );
}
