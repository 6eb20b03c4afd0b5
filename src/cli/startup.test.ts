import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/tempdirs.js';

/**
 * The packages a command-line call loads before it runs anything, read from the built code (the
 * test script builds it first) through a resolve hook that notes every package it is asked for.
 */
function packagesLoaded(args: string[]): Set<string> {
  const noted = join(tempDir('cli-startup'), 'resolved.txt');
  const hook = `
    import { appendFileSync } from 'node:fs';
    export async function resolve(specifier, context, next) {
      const found = await next(specifier, context);
      appendFileSync(${JSON.stringify(noted)}, found.url + '\\n');
      return found;
    }`;
  const script = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
    const { main } = await import(${JSON.stringify(join(process.cwd(), 'dist/src/cli/index.js'))});
    process.exitCode = await main(${JSON.stringify(['node', 'outpost', ...args])});`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
  const urls = readFileSync(noted, 'utf8').split('\n');
  return new Set(
    urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p) => p !== undefined),
  );
}

describe('the command line starts light', () => {
  // Every test and script calls the CLI many times: loading the schema library, the SQL builder or
  // the database drivers for a command that only talks HTTP cost about 1 s of CPU a call.
  it('loads no schema library, SQL builder or database driver to parse a command', () => {
    const loaded = packagesLoaded(['site', 'list', '--help']);
    expect(loaded.has('commander')).toBe(true);
    for (const heavy of ['typebox', 'kysely', 'pg', 'better-sqlite3', 'fastify']) {
      expect(loaded.has(heavy), `${heavy} was loaded`).toBe(false);
    }
  });
});
