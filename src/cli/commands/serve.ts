import type { Command } from 'commander';
import { parseDuration } from '../../common/index.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run a site server')
    .requiredOption('--data <dir>', 'data directory of the site')
    .option('--listen <host:port>', 'listen address (default: the one in site.json)')
    .option('--heartbeat <duration>', 'how often to send a heartbeat to the parent', '30s')
    .option('--unreachable-after <duration>', 'silence after which a child is unreachable', '3m')
    .option('--lease <duration>', 'how long a job stays with a sender that makes no progress', '1m')
    .option('--json', 'print the started site as one JSON line')
    .action(
      async (o: {
        data: string;
        listen?: string;
        heartbeat: string;
        unreachableAfter: string;
        lease: string;
        json?: boolean;
      }) => {
        const settings = {
          heartbeatMs: parseDuration(o.heartbeat, '--heartbeat'),
          unreachableAfterMs: parseDuration(o.unreachableAfter, '--unreachable-after'),
          leaseMs: parseDuration(o.lease, '--lease'),
        };
        const { startSite } = await import('../../server/index.js');
        const site = await startSite(o.data, { listen: o.listen, settings });
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
