import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { hashPool } from '../content/index.js';

/**
 * Prometheus metrics of one site server, served at /metrics, with the process and Node.js ones.
 * The gauges read from the database are set at each scrape. No series is labelled by both package
 * and DP: a thousand packages on five hundred DPs would be half a million series.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // What of the hash workers' busy time this registry's counter already holds.
  let hashedSeconds = 0;
  return {
    registry,
    bytesSent: new Counter({
      name: 'outpost_sender_bytes_total',
      help: 'Content bytes sent to child sites',
      labelNames: ['site'],
      registers: [registry],
    }),
    senderRounds: new Counter({
      name: 'outpost_sender_rounds_total',
      help: "Rounds of this process's sender: looking for due jobs and starting them",
      registers: [registry],
    }),
    blocksInFlight: new Gauge({
      name: 'outpost_sender_blocks_in_flight',
      help: 'Transfer blocks and deltas sent to a child site and not yet acknowledged by it',
      labelNames: ['site'],
      registers: [registry],
    }),
    bytesReceived: new Counter({
      name: 'outpost_despooler_bytes_total',
      help: 'Content bytes received and verified, by the site (the parent) they came from',
      labelNames: ['site'],
      registers: [registry],
    }),
    hashWorkers: new Gauge({
      name: 'outpost_hash_workers',
      help: 'Worker threads that hash received content off the event loop (0 until the first block arrives)',
      registers: [registry],
      collect() {
        this.set(hashPool().running);
      },
    }),
    hashBusy: new Counter({
      name: 'outpost_hash_worker_busy_seconds_total',
      help:
        'Seconds the hash worker threads spent hashing received content, summed over the workers: ' +
        'its rate divided by outpost_hash_workers is their utilisation (1 = every worker always busy)',
      registers: [registry],
      collect() {
        const busy = hashPool().busyMs / 1000;
        if (busy > hashedSeconds) this.inc(busy - hashedSeconds);
        hashedSeconds = busy;
      },
    }),
    patchedBytes: new Counter({
      name: 'outpost_despooler_patched_bytes_total',
      help: 'Bytes of chunks rebuilt from deltas against chunks held here (the deltas themselves count in outpost_despooler_bytes_total)',
      registers: [registry],
    }),
    chunksRejected: new Counter({
      name: 'outpost_despooler_chunks_rejected_total',
      help: 'Chunks discarded because they did not match their hash',
      registers: [registry],
    }),
    jobs: new Gauge({
      name: 'outpost_jobs',
      help: 'Jobs by state',
      labelNames: ['state'],
      registers: [registry],
    }),
    dpPackages: new Gauge({
      name: 'outpost_dp_packages',
      help: "Packages at each DP of this site's subtree, by state as last reported here",
      labelNames: ['dp', 'state'],
      registers: [registry],
    }),
    siteState: new Gauge({
      name: 'outpost_site_state',
      help: 'State of each child site: 1 for the state it is in, 0 for the others',
      labelNames: ['site', 'state'],
      registers: [registry],
    }),
    siteContactAge: new Gauge({
      name: 'outpost_site_contact_age_seconds',
      help: 'Seconds since each child site was last heard from (absent before its first contact)',
      labelNames: ['site'],
      registers: [registry],
    }),
    linkJobs: new Gauge({
      name: 'outpost_link_jobs',
      help: 'Jobs to each child site, by state',
      labelNames: ['site', 'state'],
      registers: [registry],
    }),
    linkQueuedBytes: new Gauge({
      name: 'outpost_link_queued_bytes',
      help:
        "Bytes still to send to each child site for its open package jobs: what the job's offer found " +
        'missing less what was sent, or the whole package for a job not tried yet',
      labelNames: ['site'],
      registers: [registry],
    }),
    reportsDropped: new Counter({
      name: 'outpost_statmgr_reports_dropped_total',
      help: 'Status reports from a child dropped unapplied: malformed, or about a site outside its subtree',
      labelNames: ['child', 'reason'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'outpost_s2s_rejected_total',
      help: 'Site-to-site requests refused, by reason and by the parent or child they claimed to be',
      labelNames: ['reason', 'peer'],
      registers: [registry],
    }),
    dpRequests: new Counter({
      name: 'outpost_dp_requests_total',
      help:
        "Requests for package files (GET and HEAD) answered by this site's DPs, by DP (empty when the " +
        'request named no DP of this site), HTTP status and kind: range when a Range was asked for, else whole',
      labelNames: ['dp', 'status', 'kind'],
      registers: [registry],
    }),
    dpBytes: new Counter({
      name: 'outpost_dp_bytes_total',
      help:
        "Bytes of package files written to clients by this site's DPs (response bodies, as the socket " +
        'took them), by DP and kind: range when a Range was asked for, else whole',
      labelNames: ['dp', 'kind'],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
