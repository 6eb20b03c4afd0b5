import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Hierarchy } from '../../demo/index.js';
import type { PackageStatus } from '../../status/index.js';
import { printJson } from '../output.js';

/** Aborts on the first Ctrl-C (or SIGTERM); a second one ends the process at once, as usual. */
function interruption(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('a real local hierarchy (C01 → P01 → S02) and one package end to end')
    .option('--once', 'exit once the package is Installed instead of staying up')
    .option('--dir <dir>', 'put the data directories here and keep them (default: a new temporary folder)')
    .option('--keep', 'keep the temporary folder (data directories and logs) when the demo ends')
    .option('--json', 'the narrative on stderr; a JSON summary on stdout once the package is Installed')
    .action(async (o: { once?: boolean; dir?: string; keep?: boolean; json?: boolean }) => {
      const out = o.json ? process.stderr : process.stdout;
      const say = (line: string) => out.write(`${line}\n`);
      const { runDemo } = await import('../../demo/index.js');
      const baseDir = o.dir ?? mkdtempSync(join(tmpdir(), 'outpost-demo-'));
      const stop = interruption();
      let hierarchy: Hierarchy | undefined;
      try {
        const started = await runDemo({
          once: !!o.once,
          dir: baseDir,
          say,
          interactive: !!out.isTTY,
          signal: stop.signal,
        });
        hierarchy = started.hierarchy;
        const { packageId, deployment } = started;
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
            deployment,
          });
        }
        if (!o.once && !stop.signal.aborted) {
          say('');
          say('the three sites stay up; press Ctrl-C to stop them');
          await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
        }
        await hierarchy.stop();
        say('all three sites stopped');
      } catch (err) {
        // runDemo has stopped the servers. Ctrl-C before the end is the administrator's choice,
        // not a failure: exit 130 as a shell does, without an error line.
        if (!stop.signal.aborted) throw err;
        say('interrupted: the sites started are stopped');
        process.exitCode = 130;
      } finally {
        stop.dispose();
        await hierarchy?.stop();
        // A folder the demo made for itself is its own to remove (about 100 MB each run), on success,
        // failure or Ctrl-C alike; one named with --dir, or kept with --keep, stays.
        if (o.dir !== undefined || o.keep) say(`data directories and logs kept in ${baseDir}`);
        else {
          await rm(baseDir, { recursive: true, force: true });
          say(`removed ${baseDir} (pass --keep to keep the data directories and logs)`);
        }
      }
    });
}
