import type { Command } from 'commander';
import { parseDuration } from '../../common/index.js';
import { parseIntOption } from '../options.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run a site server')
    .requiredOption('--data <dir>', 'data directory of the site')
    .option('--listen <host:port>', 'listen address (default: the one in site.json)')
    .option('--heartbeat <duration>', 'how often to send a heartbeat to the parent', '30s')
    .option('--unreachable-after <duration>', 'silence after which a child is unreachable', '3m')
    .option('--lease <duration>', 'how long a job stays with a sender that makes no progress', '1m')
    .option('--headers-timeout <duration>', 'time a connection has to send a whole request head', '10s')
    .option('--body-timeout <duration>', 'silence after which a request body still arriving is cut', '60s')
    .option('--keep-alive <duration>', 'how long an idle connection is kept open between requests', '5s')
    .option(
      '--max-transfers <n>',
      'jobs this process runs at once, over all links (each link also has its own concurrency)',
      parseIntOption('--max-transfers', 1, 10_000),
      16,
    )
    .option('--json', 'print the started site as one JSON line')
    .action(
      async (o: {
        data: string;
        listen?: string;
        heartbeat: string;
        unreachableAfter: string;
        lease: string;
        headersTimeout: string;
        bodyTimeout: string;
        keepAlive: string;
        maxTransfers: number;
        json?: boolean;
      }) => {
        const settings = {
          heartbeatMs: parseDuration(o.heartbeat, '--heartbeat'),
          unreachableAfterMs: parseDuration(o.unreachableAfter, '--unreachable-after'),
          leaseMs: parseDuration(o.lease, '--lease'),
          headersTimeoutMs: parseDuration(o.headersTimeout, '--headers-timeout'),
          bodyIdleTimeoutMs: parseDuration(o.bodyTimeout, '--body-timeout'),
          keepAliveTimeoutMs: parseDuration(o.keepAlive, '--keep-alive'),
          maxTransfers: o.maxTransfers,
        };
        const { startSite } = await import('../../server/index.js');
        const site = await startSite(o.data, { listen: o.listen, settings });
        // A crash must leave its reason in the site's own log, not only on a stderr nobody kept.
        process.on('uncaughtExceptionMonitor', (err, origin) => {
          site.ctx
            .log('hierman')
            .fatal({ err, origin }, `server process stopped by an error: ${err.message}`);
        });
        const { code, type, generation } = site.ctx.config;
        process.stdout.write(
          o.json
            ? `${JSON.stringify({ code, type, generation, url: site.url, logs: site.ctx.paths.logs, pid: process.pid })}\n`
            : `site ${code} (${type}) serving at ${site.url}; logs in ${site.ctx.paths.logs}\n`,
        );
        const onSignal = () => {
          void site.stop();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        await site.stopped;
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
    );
}
