import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import { formatDuration, parseDuration } from '../../common/index.js';
import { OutpostError } from '../../errors/index.js';
import type { BoundaryView, DeploymentSummary, DeploymentView } from '../../mp/index.js';
import { confirmed } from '../confirm.js';
import { type CommonOptions, collect, serverOptions } from '../options.js';
import { colourState, printJson, printRows } from '../output.js';

function printBoundaries(json: boolean, rows: BoundaryView[]): void {
  printRows(json, rows, [
    ['name', (r) => r.name],
    ['site', (r) => r.site],
    ['range', (r) => r.range],
    ['origin', (r) => r.origin],
  ]);
}

function printDeployments(json: boolean, rows: DeploymentView[]): void {
  printRows(json, rows, [
    ['id', (r) => r.id],
    ['package', (r) => r.package],
    ['target', (r) => `${r.target.kind} ${r.target.values.join(', ')}`],
    ['command', (r) => r.program.command],
    ['timeout', (r) => formatDuration(r.program.timeoutMs)],
    ['success codes', (r) => r.program.successCodes.join(','), 'wide'],
    ['workdir', (r) => r.program.workdir, 'wide'],
    ['fallback', (r) => (r.fallback ? 'yes' : 'no')],
    ['origin', (r) => r.origin],
  ]);
}

/** `--success-codes 0,3010`. */
function parseCodes(text: string): number[] {
  const codes = text.split(',').map((c) => Number(c.trim()));
  if (codes.length === 0 || !codes.every((c) => Number.isInteger(c) && c >= -(2 ** 31) && c <= 2 ** 32))
    throw new OutpostError(
      'OUTPOST_BAD_INPUT',
      `--success-codes '${text}' must be whole numbers, e.g. 0,3010`,
    );
  return codes;
}

export function registerMpCommands(program: Command): void {
  const boundary = program
    .command('boundary')
    .description('boundaries: IP subnets or ranges that map clients to a site');
  serverOptions(boundary.command('add'))
    .description('map the clients in an IPv4 or IPv6 subnet or range to a site (this one or below it)')
    .requiredOption('--site <code>', 'the site whose clients they are')
    .requiredOption('--range <range>', 'CIDR (10.1.0.0/16, fd00:1::/64) or FIRST-LAST (10.1.0.1-10.1.0.254)')
    .option('--name <name>', 'a name for it (default CODE:RANGE)')
    .action(async (o: CommonOptions & { site: string; range: string; name?: string }) => {
      const b = await (await AdminClient.from(o)).post<BoundaryView>('/boundaries', {
        site: o.site,
        range: o.range,
        name: o.name,
      });
      printBoundaries(!!o.json, [b]);
    });
  serverOptions(boundary.command('list'))
    .description('the boundaries this site holds: its own and those given from above')
    .option('--site <code>', 'only those of this site')
    .action(async (o: CommonOptions & { site?: string }) => {
      printBoundaries(
        !!o.json,
        await (await AdminClient.from(o)).get<BoundaryView[]>('/boundaries', { site: o.site }),
      );
    });
  serverOptions(boundary.command('delete').argument('<name>', 'boundary name'))
    .description('delete a boundary made at this site (the sites below drop it too)')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .action(async (name: string, o: CommonOptions & { yes?: boolean }) => {
      const question = `Delete boundary ${name}? Its clients get no policy from it any more.`;
      if (!(await confirmed(o.yes, `boundary delete removes boundary ${name}`, question))) return;
      const b = await (await AdminClient.from(o)).delete<BoundaryView>(
        `/boundaries/${encodeURIComponent(name)}`,
      );
      if (o.json) printJson(b);
      else process.stdout.write(`deleted boundary ${b.name} (${b.range}) of site ${b.site}\n`);
    });

  const deployment = program
    .command('deployment')
    .description(
      "deployments: a package's program, run by the clients of a site, a boundary or named clients",
    );
  serverOptions(deployment.command('create'))
    .description('deploy a package to the clients of a site, of a boundary, or to named clients')
    .requiredOption('--package <id>', 'the package to install')
    .requiredOption('--command <cmd>', 'the command line a client runs, in the package folder')
    .option('--site <code>', 'the clients of this site (repeatable)', collect)
    .option('--boundary <name>', 'the clients of this boundary (repeatable)', collect)
    .option('--client <id>', 'these clients (repeatable)', collect)
    .option('--timeout <duration>', 'how long the program may run, e.g. 10m', '10m')
    .option('--success-codes <codes>', 'exit codes that mean success, e.g. 0,3010', '0')
    .option('--workdir <dir>', 'the working directory (default: the package folder)')
    .option('--fallback', "allow DPs of the sites above when the client's own site lacks the content")
    .action(
      async (
        o: CommonOptions & {
          package: string;
          command: string;
          site?: string[];
          boundary?: string[];
          client?: string[];
          timeout: string;
          successCodes: string;
          workdir?: string;
          fallback?: boolean;
        },
      ) => {
        parseDuration(o.timeout, '--timeout');
        const d = await (await AdminClient.from(o)).post<DeploymentView>('/deployments', {
          package: o.package,
          command: o.command,
          sites: o.site,
          boundaries: o.boundary,
          clients: o.client,
          timeout: o.timeout,
          successCodes: parseCodes(o.successCodes),
          workdir: o.workdir,
          fallback: !!o.fallback,
        });
        printDeployments(!!o.json, [d]);
      },
    );
  serverOptions(deployment.command('list'))
    .description('the deployments this site holds: its own and those given from above')
    .action(async (o: CommonOptions) => {
      printDeployments(!!o.json, await (await AdminClient.from(o)).get<DeploymentView[]>('/deployments'));
    });
  serverOptions(deployment.command('delete').argument('<id>', 'deployment id'))
    .description('delete a deployment made at this site (the sites below drop it too)')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .action(async (id: string, o: CommonOptions & { yes?: boolean }) => {
      const question = `Delete deployment ${id} and its status? Clients no longer get it.`;
      if (!(await confirmed(o.yes, `deployment delete removes deployment ${id}`, question))) return;
      const d = await (await AdminClient.from(o)).delete<DeploymentView>(
        `/deployments/${encodeURIComponent(id)}`,
      );
      if (o.json) printJson(d);
      else process.stdout.write(`deleted deployment ${d.id} of package ${d.package}\n`);
    });
}

/** `status deployments`: per deployment and site, the clients' counts. */
export function registerDeploymentStatus(status: Command): void {
  serverOptions(status.command('deployments'))
    .description('per deployment and site: clients succeeded, failed, in progress, not reported (unknown)')
    .option('--site <code>', 'only clients of this site')
    .option('--deployment <id>', 'only this deployment')
    .option('--clients', 'a line per client with its last report')
    .action(async (o: CommonOptions & { site?: string; deployment?: string; clients?: boolean }) => {
      const rows = await (await AdminClient.from(o)).get<DeploymentSummary[]>('/status/deployments', {
        site: o.site,
        deployment: o.deployment,
      });
      if (o.json || !o.clients) {
        printRows(!!o.json, rows, [
          ['deployment', (r) => r.deployment],
          ['package', (r) => r.package],
          ['site', (r) => r.site],
          ['succeeded', (r) => r.succeeded],
          ['failed', (r) => r.failed],
          ['in progress', (r) => r.inProgress],
          ['unknown', (r) => r.unknown],
        ]);
        return;
      }
      const clients = rows.flatMap((r) =>
        r.clients.map((c) => ({ ...c, deployment: r.deployment, site: r.site })),
      );
      printRows(false, clients, [
        ['deployment', (r) => r.deployment],
        ['site', (r) => r.site],
        ['client', (r) => r.client],
        ['name', (r) => r.name],
        ['state', (r) => colourState(r.state)],
        ['exit code', (r) => r.exitCode],
        ['at', (r) => r.at],
        ['output', (r) => r.output?.split('\n').filter(Boolean).at(-1), 'wide'],
      ]);
    });
}
