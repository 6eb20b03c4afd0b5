import { formatDuration } from '../../common/index.js';
import type { Metrics } from '../../core/index.js';
import type { SignatureFault } from '../../s2s/index.js';

/** Why a site-to-site request was refused. */
export type RejectReason = SignatureFault | 'wrong-caller' | 'rate-limited';

const SAYS: Record<RejectReason, string> = {
  'no-signature': 'no signature',
  'unknown-site': 'signed by a site that is neither the parent nor a child',
  'wrong-generation': 'signed by an old generation',
  'time-window': 'signed outside the time window',
  'bad-signature': 'signature does not verify',
  replay: 'a replay',
  'body-mismatch': 'body does not match its signed hash',
  'wrong-caller': 'signed by the wrong neighbour for the route',
  'rate-limited': 'too many unsigned requests',
};

/** Sources told apart in one interval; refusals from any further ones are reported together. */
const MAX_SOURCES = 1000;
/** After the first refusal of a source and reason, every this many is logged. */
const LOG_EVERY = 100;

/** One refused request. */
export interface Rejection {
  address: string;
  /** The site code the request claimed to come from, if it named one. */
  claimed: string | null;
  /** The parent or child it claimed to be, if it is one: the metric's peer label and the message's subject. */
  peer: string | null;
  reason: RejectReason;
  /** The full reason, for the log. */
  detail: string;
  url: string;
}

interface Tally {
  address: string;
  claimed: string | null;
  peer: string | null;
  reason: RejectReason;
  count: number;
  timer: NodeJS.Timeout;
}

interface Needs {
  metrics: Pick<Metrics, 'rejected'>;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  intervalMs: number;
  /** Posts the status message that reports a tally. */
  post(text: string, subject: string | null): Promise<void>;
}

/**
 * Counts refused site-to-site requests instead of posting a status message for each: every one
 * in the metric by reason and peer, a sampled few in the log, and one status message per source
 * and reason when its interval ends ("rejected 500 requests from 127.0.0.1 claiming S04 in the
 * last minute: no signature"), so a flood cannot flood the hierarchy's status in turn.
 */
export class RejectionTally {
  private readonly open = new Map<string, Tally>();

  constructor(private readonly needs: Needs) {}

  record(r: Rejection): void {
    this.needs.metrics.rejected.inc({ reason: r.reason, peer: r.peer ?? 'unknown' });
    let key = `${r.address}\n${r.claimed ?? ''}\n${r.reason}`;
    let source = { address: r.address, claimed: r.claimed, peer: r.peer };
    if (!this.open.has(key) && this.open.size >= MAX_SOURCES) {
      key = `\n\n${r.reason}`;
      source = { address: 'other addresses', claimed: null, peer: null };
    }
    let tally = this.open.get(key);
    if (!tally) {
      const timer = setTimeout(() => void this.report(key), this.needs.intervalMs);
      timer.unref();
      tally = { ...source, reason: r.reason, count: 0, timer };
      this.open.set(key, tally);
    }
    tally.count++;
    if (tally.count === 1 || tally.count % LOG_EVERY === 0) {
      this.needs.log.warn(
        {
          address: r.address,
          from: r.claimed,
          peer: r.peer ?? undefined,
          url: r.url,
          err: r.detail,
          count: tally.count,
        },
        'rejected a site-to-site request',
      );
    }
  }

  /** Reports every open tally now: the server is stopping. */
  async flush(): Promise<void> {
    await Promise.all([...this.open.keys()].map((key) => this.report(key)));
  }

  private async report(key: string): Promise<void> {
    const tally = this.open.get(key);
    if (!tally) return;
    this.open.delete(key);
    clearTimeout(tally.timer);
    const { count, address, claimed, reason } = tally;
    const window = this.needs.intervalMs === 60_000 ? 'minute' : formatDuration(this.needs.intervalMs);
    const text =
      `rejected ${count} ${count === 1 ? 'request' : 'requests'} from ${address}` +
      `${claimed ? ` claiming ${claimed}` : ''} in the last ${window}: ${SAYS[reason]}`;
    await this.needs.post(text, tally.peer).catch((err: unknown) => {
      this.needs.log.error({ err, text }, 'could not post a status message');
    });
  }
}
