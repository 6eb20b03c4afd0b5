import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import { assertSiteCode, parseSize } from '../../common/index.js';
import type { DoctorResult } from '../../doctor/index.js';
import { OutpostError } from '../../errors/index.js';
import type { AuditResult, Leftover, PurgeResult } from '../../host/index.js';
import type { PreflightCheck } from '../../sites/index.js';
import { confirmed } from '../confirm.js';
import { type CommonOptions, serverOptions } from '../options.js';
import { printJson, printRows } from '../output.js';

function leftoverRows(rows: Leftover[]): void {
  printRows(false, rows, [
    ['kind', (r) => r.kind],
    ['what', (r) => r.path ?? r.name],
    ['detail', (r) => r.detail],
  ]);
}

/** Prints the preflight table (stdout) the way `site join` and `doctor --preflight` show it. */
export function printPreflight(checks: PreflightCheck[], json: boolean): void {
  if (json) return;
  printRows(false, checks, [
    ['check', (c) => c.name],
    ['result', (c) => (c.ok ? 'ok' : 'FAILED')],
    ['detail', (c) => c.detail],
  ]);
}

/** The doctor's table, one line a check, and a last line with the outcome. */
function printDoctor(result: DoctorResult): void {
  printRows(false, result.checks, [
    ['check', (c) => c.check],
    ['target', (c) => c.target],
    ['verdict', (c) => c.verdict],
    ['detail', (c) => c.detail],
    ['hint', (c) => c.hint ?? ''],
  ]);
  const failed = result.checks.filter((c) => c.verdict === 'fail').length;
  const warned = result.checks.filter((c) => c.verdict === 'warn').length;
  process.stdout.write(
    `${result.site}: ${result.ok ? 'healthy' : `${failed} checks failed`}${warned ? `, ${warned} warnings` : ''}\n`,
  );
}

export function registerHostCommands(program: Command): void {
  const host = program.command('host').description('what a site install left on this host');
  const scope = (cmd: Command) =>
    cmd
      .requiredOption('--code <code>', 'site code of the install')
      .option('--data <dir>', 'the data directory the install used (default: under --root)')
      .option('--root <dir>', 'where host paths are (default /)', '/')
      .option('--json', 'machine-readable output');

  scope(host.command('audit'))
    .description('list every leftover of an install of CODE; exit 0 when clean, 1 when not')
    .action(async (o: { code: string; data?: string; root: string; json?: boolean }) => {
      const { auditHost, describeLeft } = await import('../../host/index.js');
      const audit: AuditResult = await auditHost({
        code: assertSiteCode(o.code),
        dataDir: o.data,
        root: o.root,
      });
      if (o.json) printJson({ clean: audit.clean, leftovers: audit.leftovers, left: audit.left });
      else if (audit.clean) process.stdout.write(`host is clean of ${o.code}\n`);
      else {
        process.stdout.write(`leftovers of ${o.code} on this host:\n`);
        leftoverRows(audit.leftovers);
        if (audit.left.length) process.stdout.write(`purge leaves ${describeLeft(audit.left)}\n`);
      }
      if (!audit.clean) process.exitCode = 1;
    });

  scope(host.command('purge'))
    .description('remove every leftover of an install of CODE from this host')
    .option('--yes', 'do not ask')
    .action(async (o: { code: string; data?: string; root: string; json?: boolean; yes?: boolean }) => {
      const { auditHost, describeLeft, purgeHost } = await import('../../host/index.js');
      const code = assertSiteCode(o.code);
      const audit = await auditHost({ code, dataDir: o.data, root: o.root });
      if (!audit.clean && !o.yes) {
        if (process.stdin.isTTY) {
          leftoverRows(audit.leftovers);
          if (audit.left.length) process.stdout.write(`purge leaves ${describeLeft(audit.left)}\n`);
        }
        if (
          !(await confirmed(
            o.yes,
            'host purge removes files and stops processes',
            `remove these leftovers of ${code}?`,
          ))
        )
          return;
      }
      const result: PurgeResult = await purgeHost({ code, dataDir: o.data, root: o.root });
      if (o.json) printJson(result);
      else {
        for (const r of result.removed) process.stdout.write(`removed ${r.kind} ${r.path ?? r.name}\n`);
        for (const r of result.remaining)
          process.stdout.write(`left ${r.kind} ${r.path ?? r.name}: ${r.detail}\n`);
        if (result.left.length) process.stdout.write(`left ${describeLeft(result.left)}\n`);
        if (result.removed.length === 0 && result.remaining.length === 0)
          process.stdout.write(`host is clean of ${code}\n`);
      }
      if (result.remaining.length) process.exitCode = 1;
    });

  serverOptions(program.command('doctor'))
    .description(
      'check a site (MP, DP content, sender links, keys, disk, clock, stuck jobs), or one below it with --site; exit 1 on any failure. --preflight URL --token JOIN-TOKEN runs the checks of site join against a parent without joining',
    )
    .option('--site <code>', 'a site below this one to check (default: this site)')
    .option('--full', 'hash all the content the DPs serve, not a sample')
    .option(
      '--preflight <url>',
      "the parent's URL (--token is then the join token, --data the join's data directory)",
    )
    .option('--listen <host:port>', 'listen address the site would use (with --preflight)')
    .option('--root <dir>', 'where host paths are (with --preflight; default /)', '/')
    .option('--reserve <size>', 'free space to keep beyond the assigned content (with --preflight)', '256M')
    .action(
      async (
        o: CommonOptions & {
          site?: string;
          full?: boolean;
          preflight?: string;
          listen?: string;
          root: string;
          reserve: string;
        },
      ) => {
        if (!o.preflight) {
          if (o.site !== undefined) assertSiteCode(o.site, '--site');
          const client = await AdminClient.from(o);
          const result = await client.get<DoctorResult>('/doctor', { site: o.site, full: o.full });
          if (o.json) printJson(result);
          else printDoctor(result);
          if (!result.ok) process.exitCode = 1;
          return;
        }
        if (!o.token) throw new OutpostError('OUTPOST_BAD_INPUT', 'doctor --preflight needs --token');
        const reserveBytes = parseSize(o.reserve, '--reserve');
        const { runPreflight } = await import('../../sites/index.js');
        const result = await runPreflight({
          parentUrl: o.preflight,
          token: o.token,
          dataDir: o.data ?? './outpost-data',
          listen: o.listen,
          root: o.root,
          reserveBytes,
        });
        if (o.json) printJson(result);
        else printPreflight(result.checks, false);
        if (!result.ok) process.exitCode = 1;
      },
    );
}
