import { rm } from 'node:fs/promises';
import type { Command } from 'commander';
import type { PackageStatus } from '../../status/index.js';
import { printJson } from '../output.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('a real local hierarchy (C01 → P01 → S02) and one package end to end')
    .option('--once', 'exit once the package is Installed instead of staying up')
    .option('--dir <dir>', 'put the data directories here (default: a new temporary folder)')
    .option('--json', 'the narrative on stderr; a JSON summary on stdout once the package is Installed')
    .action(async (o: { once?: boolean; dir?: string; json?: boolean }) => {
      const out = o.json ? process.stderr : process.stdout;
      const say = (line: string) => out.write(`${line}\n`);
      const { runDemo } = await import('../../demo/index.js');
      const { hierarchy, packageId, baseDir } = await runDemo({
        once: !!o.once,
        dir: o.dir,
        say,
        interactive: !!out.isTTY,
      });
      if (o.json) {
        const { C01, S02 } = hierarchy.sites;
        printJson({
          dataDir: baseDir,
          package: packageId,
          sites: Object.values(hierarchy.sites).map((s) => ({
            code: s.code,
            url: s.url,
            dataDir: s.dataDir,
            pid: s.process.child.pid,
          })),
          status: await C01.admin.get<PackageStatus[]>('/status/packages'),
          download: `${S02.url}/dp/${packageId}/setup.bin`,
        });
      }
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
      // A folder the demo made for itself is its own to remove (about 100 MB each run); one the
      // administrator named with --dir is kept. After a failure it stays, for its logs.
      if (o.dir === undefined) {
        await rm(baseDir, { recursive: true, force: true });
        say(`removed ${baseDir} (pass --dir DIR to keep the data directories)`);
      }
    });
}
