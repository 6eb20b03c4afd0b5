import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';
import { completionScript } from './completion.js';
import { commandPaths } from './help.js';
import { buildProgram } from './index.js';

/** What `outpost PATH --help` prints. */
function helpOf(cmd: Command): string {
  let text = '';
  // Wide enough that no description wraps onto a second line.
  cmd.configureOutput({
    writeOut: (s) => (text += s),
    writeErr: (s) => (text += s),
    getOutHelpWidth: () => 500,
  });
  cmd.outputHelp();
  return text;
}

describe('help', () => {
  const commands = commandPaths(buildProgram());

  it('has an Examples section for every command', () => {
    const without = commands.filter(([, cmd]) => !/\nExamples:\n {2}\$ outpost/.test(helpOf(cmd)));
    expect(without.map(([path]) => path || 'outpost')).toEqual([]);
  });

  it('marks every required option "(required)", and no other', () => {
    for (const [path, cmd] of commands) {
      const help = helpOf(cmd);
      for (const option of cmd.options) {
        const line = help.split('\n').find((l) => l.trimStart().startsWith(option.flags));
        expect(line, `${path} ${option.flags}`).toBeDefined();
        expect(line?.includes('(required)'), `${path} ${option.flags}`).toBe(option.mandatory);
      }
    }
    expect(helpOf(commands.find(([p]) => p === 'package create')?.[1] ?? buildProgram())).toMatch(
      /--name <name>\s+package name \(required\)/,
    );
  });
});

describe('completion', () => {
  const program = buildProgram();

  /** The words bash offers after `line` (the last word is the one being completed). */
  function complete(script: string, line: string): string[] {
    const file = join(tempDir('completion'), 'outpost.bash');
    writeFileSync(file, script);
    const words = line.split(' ');
    const out = execFileSync('bash', [
      '-c',
      `source "$0"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _outpost; printf '%s\\n' "\${COMPREPLY[@]}"`,
      file,
    ]);
    return out.toString().split('\n').filter(Boolean);
  }

  it('is a bash script bash accepts, offering the commands, subcommands and options of the tree', () => {
    const script = completionScript(program, 'bash');
    const file = join(tempDir('completion'), 'outpost.bash');
    writeFileSync(file, script);
    execFileSync('bash', ['-n', file]);
    expect(complete(script, 'outpost ')).toEqual(
      expect.arrayContaining(['site', 'package', 'dp', 'completion']),
    );
    expect(complete(script, 'outpost site ').sort()).toEqual([
      'add',
      'delete',
      'join',
      'list',
      'purge',
      'replace',
      'show',
    ]);
    expect(complete(script, 'outpost status messages --data /srv/c01 --sev')).toEqual(['--severity']);
    // The value of an option is not taken for a command: `list` here is the data directory.
    expect(complete(script, 'outpost site --data list ')).toContain('show');
  });

  it('has zsh and fish forms built from the same tree', () => {
    expect(completionScript(program, 'zsh')).toContain('bashcompinit');
    expect(completionScript(program, 'zsh')).toContain('"site list")');
    const fish = completionScript(program, 'fish');
    expect(fish).toContain("complete -c outpost -n '__fish_use_subcommand' -a site");
    expect(fish).toMatch(
      /__fish_seen_subcommand_from status; and __fish_seen_subcommand_from messages' -l severity -r/,
    );
  });
});
