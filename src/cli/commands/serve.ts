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
    .action(async (o: { data: string; listen?: string; heartbeat: string; unreachableAfter: string }) => {
      const settings = {
        heartbeatMs: parseDuration(o.heartbeat, '--heartbeat'),
        unreachableAfterMs: parseDuration(o.unreachableAfter, '--unreachable-after'),
      };
      const { startSite } = await import('../../server/serve.js');
      const site = await startSite(o.data, { listen: o.listen, settings });
      process.stdout.write(
        `site ${site.ctx.config.code} (${site.ctx.config.type}) serving at ${site.url}; logs in ${site.ctx.paths.logs}\n`,
      );
      const onSignal = () => {
        void site.stop();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      await site.stopped;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
}
