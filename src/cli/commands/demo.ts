import type { Command } from 'commander';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('a real local hierarchy (C01 → P01 → S02) and one package end to end')
    .option('--once', 'exit once the package is Installed instead of staying up')
    .option('--dir <dir>', 'put the data directories here (default: a new temporary folder)')
    .action(async (o: { once?: boolean; dir?: string }) => {
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const { runDemo } = await import('../../demo/run.js');
      const { hierarchy } = await runDemo({
        once: !!o.once,
        dir: o.dir,
        say,
        interactive: !!process.stdout.isTTY,
      });
      if (!o.once) {
        say('');
        say('the three sites stay up; press Ctrl-C to stop them');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
      }
      await hierarchy.stop();
      say('all three sites stopped');
    });
}
