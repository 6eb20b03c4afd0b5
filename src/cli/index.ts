import { Command, CommanderError } from 'commander';
import { exitCodeFor, OutpostError } from '../errors/index.js';
import { errColours } from './colour.js';
import { registerAddressCommands } from './commands/address.js';
import { registerClientCommands } from './commands/client.js';
import { registerContentCommands } from './commands/content.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerHostCommands } from './commands/host.js';
import { registerMpCommands } from './commands/mp.js';
import { registerPackageCommands } from './commands/packages.js';
import { registerRebuildCommands } from './commands/rebuild.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSiteCommands } from './commands/sites.js';
import { registerStatusCommands } from './commands/status.js';
import { registerCompletionCommand } from './completion.js';
import { teachHelp } from './help.js';
import { type OutputFormat, setOutputFormat } from './output.js';

/** Builds the `outpost` command line. */
export function buildProgram(): Command {
  const program = new Command('outpost')
    .description('Outpost: hierarchical software distribution (sites, packages, distribution points)')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      outputError: (str, write) =>
        write(str.split('\n')[0].trim() ? `outpost: ${str.replace(/^error: /, '').split('\n')[0]}\n` : str),
    });
  registerSiteCommands(program);
  registerServeCommand(program);
  registerDemoCommand(program);
  registerPackageCommands(program);
  registerContentCommands(program);
  registerStatusCommands(program);
  registerAddressCommands(program);
  registerMpCommands(program);
  registerClientCommands(program);
  registerHostCommands(program);
  registerRebuildCommands(program);
  registerCompletionCommand(program);
  teachHelp(program);
  // `-o json` is `--json`: the command sees the same option either way and prints the same bytes.
  program.hook('preAction', (_program, action) => {
    const o = action.opts<{ json?: boolean; output?: OutputFormat }>();
    if (o.output === 'json') action.setOptionValue('json', true);
    setOutputFormat(o.output ?? (o.json ? 'json' : undefined));
  });
  return program;
}

/** Runs the CLI; resolves to the exit code: 0 done, 1 failed, 2 bad usage or input. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // Commands that finish with a verdict (audit, doctor) set the exit code themselves.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // `outpost` or `outpost site` without a subcommand printed the help: that is bad usage.
      if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
      return 2;
    }
    if (err instanceof OutpostError) {
      process.stderr.write(`outpost: ${err.message}${err.hint ? errColours.dim(` (${err.hint})`) : ''}\n`);
      return exitCodeFor(err.code);
    }
    process.stderr.write(`outpost: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
