import { Agent } from 'undici';
import { sleep } from '../common/index.js';
import { OutpostError } from '../errors/index.js';
import {
  clientIdOf,
  loadSiteKeys,
  OUTPUT_TAIL,
  type Placement,
  type Policy,
  type PolicyDeployment,
  type PolicyDp,
  type StatusBody,
  type Unassigned,
} from '../s2s/index.js';
import { TokenBucket } from './bucket.js';
import { downloadFile, holdsFile } from './download.js';
import { MpClient } from './mp.js';
import { fileInPackage, programWorkdir } from './paths.js';
import { runProgram } from './program.js';
import { ClientData, type DeploymentRecord } from './state.js';

/** How many MPs an agent follows (`other-site` answers) before it gives up for this poll. */
const MAX_REDIRECTS = 3;
/** How many times a cut download is resumed from the same DP, as long as each try brings bytes. */
const MAX_RESUMES = 5;
/** A DP whose file fails verification is tried once more, then the next DP. */
const MAX_MISMATCHES = 2;

export interface AgentOptions {
  /** The MP the agent asks first (and again whenever the one it followed fails). */
  mp: string;
  dataDir: string;
  /** The local source address of every request (to the MP and the DPs). */
  bind?: string;
  /** Caps the download rate, bytes per second. */
  rateLimit?: number;
  /** A name the MP shows for this client. */
  name?: string;
}

/** One thing the agent did, for a person or a script to follow. */
export type AgentEvent =
  | { event: 'registered'; client: string; site: string; boundary: string; address: string; mp: string }
  | {
      event: 'not-managed';
      client: string;
      reason: Unassigned['reason'];
      address: string;
      site: string | null;
      message: string;
    }
  | { event: 'redirected'; from: string; to: string; site: string }
  | { event: 'not-registered'; mp: string }
  | { event: 'error'; message: string }
  | { event: 'waiting'; deployment: string; message: string }
  | { event: 'downloading'; deployment: string; package: string; dp: string; url: string; bytes: number }
  | { event: 'progress'; deployment: string; file: string; held: number; size: number }
  | { event: 'dp-failed'; deployment: string; dp: string; message: string }
  | { event: 'verified'; deployment: string; package: string; dp: string; files: number; fetched: number }
  | { event: 'ran'; deployment: string; command: string; exitCode: number | null; succeeded: boolean }
  | { event: 'reported'; deployment: string; state: StatusBody['state']; message?: string };

/** What became of a deployment in one poll. */
export interface DeploymentOutcome {
  deployment: string;
  package: string;
  sourceVersion: number;
  /** `skipped`: done before (succeeded, or its program failed for this version); `waiting`: no DP holds it yet. */
  state: 'succeeded' | 'failed' | 'skipped' | 'waiting';
  exitCode: number | null;
  /** The DP base URL the files came from (null when nothing was fetched). */
  dp: string | null;
  /** Bytes fetched over the network for it, failed attempts included. */
  fetched: number;
  reason?: string;
}

/** One poll: where the client stands and what it did. */
export interface PollSummary {
  client: string;
  mp: string;
  assigned: boolean;
  site: string | null;
  boundary: string | null;
  address: string | null;
  reason?: Unassigned['reason'];
  message?: string;
  deployments: DeploymentOutcome[];
}

/** A status report; no exit code (killed, never run) is sent as null. */
function statusBody(
  deployment: string,
  state: StatusBody['state'],
  exitCode: number | null,
  output: string,
): StatusBody {
  return { deployment, state, exitCode, output };
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
const codeOf = (err: unknown) => (err instanceof OutpostError ? err.code : undefined);

/**
 * The Outpost client agent (docs/MP-PROTOCOL.md, the client side): registers its own key at a
 * management point, polls its policy, downloads each deployment's package from the first DP that
 * serves it intact (resuming partial files, verifying every file by SHA-256), runs the program and
 * reports how it went. What it ran is recorded in its data directory, so a restart runs nothing twice.
 */
export class ClientAgent {
  /** The MP this agent is registered at, while it is. */
  private session: MpClient | null = null;
  private readonly bucket: TokenBucket | null;
  private lastNotice = '';

  private constructor(
    private readonly o: AgentOptions,
    private readonly data: ClientData,
    private readonly key: string,
    readonly id: string,
    private readonly emit: (e: AgentEvent) => void,
  ) {
    this.bucket = o.rateLimit ? new TokenBucket(o.rateLimit, Date.now()) : null;
  }

  /** The agent of data directory `o.dataDir`, its key made there on first use. */
  static async open(o: AgentOptions, emit: (e: AgentEvent) => void): Promise<ClientAgent> {
    const data = new ClientData(o.dataDir);
    const key = await data.key();
    return new ClientAgent(o, data, key, clientIdOf(loadSiteKeys(key).publicKeyPem), emit);
  }

  /** Emits notices that repeat every poll (not managed, MP unreachable) only when they change. */
  private notice(e: AgentEvent & { message: string }): void {
    if (e.message === this.lastNotice) return;
    this.lastNotice = e.message;
    this.emit(e);
  }

  private async dropSession(): Promise<void> {
    await this.session?.close();
    this.session = null;
  }

  /** Registers at `from`, following `other-site` answers to the MP they name. */
  private async connect(from: string): Promise<Placement | Unassigned> {
    let url = from;
    for (let hop = 0; ; hop++) {
      const mp = new MpClient(url, this.key, this.o.bind ? { bind: this.o.bind } : {});
      let answer: Placement | Unassigned;
      try {
        answer = await mp.register(this.o.name);
      } catch (err) {
        await mp.close();
        throw err;
      }
      if (answer.assigned) {
        this.session = mp;
        this.lastNotice = '';
        const { site, boundary, address } = answer;
        this.emit({ event: 'registered', client: this.id, site, boundary, address, mp: url });
        return answer;
      }
      await mp.close();
      if (answer.reason !== 'other-site' || !answer.mp || answer.mp === url || hop >= MAX_REDIRECTS)
        return answer;
      this.emit({ event: 'redirected', from: url, to: answer.mp, site: answer.site });
      url = answer.mp;
    }
  }

  private unassigned(u: Unassigned, mp: string): PollSummary {
    const site = u.reason === 'other-site' ? u.site : null;
    this.notice({
      event: 'not-managed',
      client: this.id,
      reason: u.reason,
      address: u.address,
      site,
      message: u.message,
    });
    return {
      client: this.id,
      mp,
      assigned: false,
      site,
      boundary: null,
      address: u.address,
      reason: u.reason,
      message: u.message,
      deployments: [],
    };
  }

  /**
   * One poll: registers when it has no session (from the MP it was given), gets its policy
   * (registering again when the MP no longer knows it) and works through its deployments. Throws
   * when the MP cannot be reached; the next poll starts again from the MP it was given.
   */
  async poll(signal: AbortSignal): Promise<PollSummary> {
    try {
      return await this.pollOnce(signal);
    } catch (err) {
      if (!signal.aborted) await this.dropSession();
      throw err;
    }
  }

  private async pollOnce(signal: AbortSignal): Promise<PollSummary> {
    if (!this.session) {
      const placed = await this.connect(this.o.mp);
      if (!placed.assigned) return this.unassigned(placed, this.o.mp);
    }
    const policy = await this.fetchPolicy();
    if (!policy.assigned) {
      const url = this.session?.mpUrl ?? this.o.mp;
      await this.dropSession();
      return this.unassigned(policy, url);
    }
    // fetchPolicy answers assigned only from a session's MP.
    const session = this.session as MpClient;
    const { site, boundary, address } = policy;
    const outcomes: DeploymentOutcome[] = [];
    for (const d of policy.deployments) {
      signal.throwIfAborted();
      outcomes.push(await this.deploy(session, d, signal));
    }
    return {
      client: this.id,
      mp: session.mpUrl,
      assigned: true,
      site,
      boundary,
      address,
      deployments: outcomes,
    };
  }

  /** The policy from the session's MP, registering again when it no longer knows this client. */
  private async fetchPolicy(): Promise<Policy | Unassigned> {
    const mp = this.session as MpClient;
    try {
      return await mp.policy();
    } catch (err) {
      if (codeOf(err) !== 'OUTPOST_CLIENT_NOT_REGISTERED') throw err;
      // A rebuilt or replaced site does not know this client yet: the same key registers again.
      this.emit({ event: 'not-registered', mp: mp.mpUrl });
      await this.dropSession();
      const placed = await this.connect(mp.mpUrl);
      return placed.assigned ? (this.session as MpClient).policy() : placed;
    }
  }

  /** Polls every `intervalMs` until `signal` aborts; a failed poll is reported and retried next time. */
  async run(intervalMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.poll(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.notice({ event: 'error', message: messageOf(err) });
      }
      await sleep(intervalMs, signal);
    }
  }

  async close(): Promise<void> {
    await this.dropSession();
  }

  private async deploy(mp: MpClient, d: PolicyDeployment, signal: AbortSignal): Promise<DeploymentOutcome> {
    const version = d.package.sourceVersion;
    const outcome = (state: DeploymentOutcome['state'], more: Partial<DeploymentOutcome> = {}) => ({
      deployment: d.id,
      package: d.package.id,
      sourceVersion: version,
      state,
      exitCode: null,
      dp: null,
      fetched: 0,
      ...more,
    });
    const mine = (await this.data.records())[d.id];
    if (mine && mine.sourceVersion === version) {
      // A site rebuilt or replaced since has lost the report: tell it again, without running anything.
      if (mine.state === 'succeeded' && d.last?.state !== 'succeeded') {
        await mp.report(statusBody(d.id, 'succeeded', mine.exitCode, ''));
        this.emit({ event: 'reported', deployment: d.id, state: 'succeeded', message: 'recorded earlier' });
      }
      return outcome('skipped', { exitCode: mine.exitCode, reason: `${mine.state} before` });
    }
    if (!mine && d.last?.state === 'succeeded') {
      await this.data.record(d.id, {
        package: d.package.id,
        sourceVersion: version,
        state: 'succeeded',
        exitCode: d.last.exitCode,
        at: d.last.at,
      });
      return outcome('skipped', { exitCode: d.last.exitCode, reason: 'succeeded before (the MP says)' });
    }
    if (d.dps.length === 0) {
      const message = `no DP holds ${d.package.id} version ${version} yet`;
      this.notice({ event: 'waiting', deployment: d.id, message });
      return outcome('waiting', { reason: message });
    }

    await mp.report({ deployment: d.id, state: 'in-progress' });
    const failed = async (reason: string, fetched: number) => {
      await mp.report(statusBody(d.id, 'failed', null, reason.slice(-OUTPUT_TAIL)));
      this.emit({ event: 'reported', deployment: d.id, state: 'failed', message: reason });
      return outcome('failed', { fetched, reason });
    };
    const dir = this.data.packageDir(d.package.id, version);
    let cwd: string;
    try {
      // Nothing is written for a policy whose paths would leave the package folder.
      for (const f of d.package.files) fileInPackage(dir, f.path);
      cwd = programWorkdir(dir, d.program.workdir);
    } catch (err) {
      if (codeOf(err) !== 'OUTPOST_BAD_PATH') throw err;
      return failed(messageOf(err), 0);
    }
    const got = await this.fetchPackage(d, dir, signal);
    if (!got.ok)
      return failed(
        `no DP served ${d.package.id} version ${version} intact: ${got.failures.join('; ')}`,
        got.fetched,
      );

    const ran = await runProgram(
      d.program,
      cwd,
      { OUTPOST_CLIENT_ID: this.id, OUTPOST_DEPLOYMENT: d.id, OUTPOST_PACKAGE_DIR: dir },
      signal,
    );
    signal.throwIfAborted();
    this.emit({
      event: 'ran',
      deployment: d.id,
      command: d.program.command,
      exitCode: ran.exitCode,
      succeeded: ran.succeeded,
    });
    const state = ran.succeeded ? 'succeeded' : 'failed';
    const record: DeploymentRecord = {
      package: d.package.id,
      sourceVersion: version,
      state,
      exitCode: ran.exitCode,
      at: Date.now(),
    };
    // Recorded before the report: a report lost on the way is sent again, the program is not run again.
    await this.data.record(d.id, record);
    await mp.report(statusBody(d.id, state, ran.exitCode, ran.output));
    this.emit({ event: 'reported', deployment: d.id, state });
    return outcome(state, {
      exitCode: ran.exitCode,
      dp: got.dp?.url ?? null,
      fetched: got.fetched,
      ...(ran.timedOut ? { reason: `killed after ${d.program.timeoutMs} ms` } : {}),
    });
  }

  /**
   * Gets every file of `d`'s package into `dir`, verified: from the DPs in policy order. A cut
   * download resumes from the same DP; a file that fails verification is fetched once more from
   * it, then the next DP is tried.
   */
  private async fetchPackage(
    d: PolicyDeployment,
    dir: string,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; dp: PolicyDp | null; fetched: number; failures: string[] }> {
    const failures: string[] = [];
    let fetched = 0;
    const held = await Promise.all(d.package.files.map((f) => holdsFile(fileInPackage(dir, f.path), f)));
    if (held.every(Boolean)) return { ok: true, dp: null, fetched, failures };
    for (const dp of d.dps) {
      let mismatches = 0;
      let resumes = 0;
      for (;;) {
        let received = 0;
        try {
          await this.fetchFrom(d, dp, dir, signal, (n) => {
            received += n;
          });
          fetched += received;
          this.emit({
            event: 'verified',
            deployment: d.id,
            package: d.package.id,
            dp: dp.dp,
            files: d.package.files.length,
            fetched,
          });
          return { ok: true, dp, fetched, failures };
        } catch (err) {
          fetched += received;
          if (signal.aborted) throw err;
          const message = messageOf(err);
          this.emit({ event: 'dp-failed', deployment: d.id, dp: dp.dp, message });
          failures.push(`${dp.dp}: ${message}`);
          if (codeOf(err) === 'OUTPOST_HASH_MISMATCH') {
            if (++mismatches < MAX_MISMATCHES) continue;
          } else if (codeOf(err) === 'OUTPOST_UNREACHABLE' && received > 0 && ++resumes < MAX_RESUMES) {
            continue;
          }
          break;
        }
      }
    }
    return { ok: false, dp: null, fetched, failures };
  }

  /** One try at DP `dp`: its own connections (from the agent's address), closed after. */
  private async fetchFrom(
    d: PolicyDeployment,
    dp: PolicyDp,
    dir: string,
    signal: AbortSignal,
    onBytes: (n: number) => void,
  ): Promise<void> {
    const files = d.package.files.map((f) => ({ ...f, dest: fileInPackage(dir, f.path) }));
    const missing = [];
    // A file that verified on an earlier try (from this DP or another) is not fetched again.
    for (const f of files) if (!(await holdsFile(f.dest, f))) missing.push(f);
    const bytes = missing.reduce((n, f) => n + f.size, 0);
    this.emit({
      event: 'downloading',
      deployment: d.id,
      package: d.package.id,
      dp: dp.dp,
      url: dp.url,
      bytes,
    });
    const dispatcher = new Agent(this.o.bind ? { localAddress: this.o.bind } : {});
    try {
      for (const f of missing) {
        const url = `${dp.url}${f.path.split('/').map(encodeURIComponent).join('/')}`;
        await downloadFile(this.data, url, f, f.dest, {
          dispatcher,
          bucket: this.bucket,
          signal,
          onProgress: (held, n) => {
            onBytes(n);
            this.emit({ event: 'progress', deployment: d.id, file: f.path, held, size: f.size });
          },
        });
      }
    } finally {
      await dispatcher.destroy();
    }
  }
}
