import { Counter, Gauge, Registry } from 'prom-client';

/** Prometheus metrics of one site server, served at /metrics. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    bytesSent: new Counter({
      name: 'outpost_sender_bytes_total',
      help: 'Content bytes sent to child sites',
      labelNames: ['site'],
      registers: [registry],
    }),
    bytesReceived: new Counter({
      name: 'outpost_despooler_bytes_total',
      help: 'Content bytes received and verified from the parent',
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
      help: 'Content requests served by the DP',
      labelNames: ['status'],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
