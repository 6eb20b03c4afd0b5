import { createServer, isIP } from 'node:net';
import type { Command } from 'commander';
import { AdminClient } from '../../apiclient/index.js';
import type { AgentEvent, PollSummary } from '../../client/index.js';
import { assertClientId, formatBytes, parseDuration } from '../../common/index.js';
import { OutpostError } from '../../errors/index.js';
import type { ClientDeploymentReport, ClientDetail, ClientView } from '../../mp/index.js';
import { type CommonOptions, parseIntOption, parseUrlOption, serverOptions } from '../options.js';
import { colourState, humanOutput, printJson, printObject, printRows } from '../output.js';

interface ClientRunOptions {
  mp: string;
  data: string;
  bind?: string;
  once?: boolean;
  rateLimit?: number;
  interval: string;
  name?: string;
  json?: boolean;
}

/** `--bind`: an IP address this host has (a listener on it proves it). */
async function assertBindable(address: string): Promise<void> {
  if (isIP(address) === 0)
    throw new OutpostError('OUTPOST_BAD_INPUT', `--bind '${address}' is not an IP address`);
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new OutpostError(
          'OUTPOST_BAD_INPUT',
          `--bind ${address} is not an address of this host (${err.code})`,
        ),
      ),
    );
    server.listen(0, address, () => server.close(() => resolve()));
  });
}

/** One line per event for a person; progress only on a terminal, redrawn in place. */
function humanLine(e: AgentEvent, intervalText: string, once: boolean): string | null {
  switch (e.event) {
    case 'registered':
      return `client ${e.client} registered at ${e.site} (boundary ${e.boundary}, address ${e.address}) via ${e.mp}`;
    case 'not-managed':
      return `client ${e.client} is not managed here: ${e.message}; nothing runs${once ? '' : ` (asking again every ${intervalText})`}`;
    case 'redirected':
      return `address belongs to site ${e.site}: following its management point ${e.to}`;
    case 'not-registered':
      return `${e.mp} does not know this client (site rebuilt or replaced?): registering again`;
    case 'error':
      return `poll failed: ${e.message}${once ? '' : ` (trying again in ${intervalText})`}`;
    case 'waiting':
      return `${e.deployment}: waiting: ${e.message}`;
    case 'downloading':
      return `${e.deployment}: downloading ${e.package} (${formatBytes(e.bytes)}) from DP ${e.dp} ${e.url}`;
    case 'progress':
      return null;
    case 'dp-failed':
      return `${e.deployment}: DP ${e.dp} failed: ${e.message}`;
    case 'verified':
      return `${e.deployment}: verified ${e.files} file(s) of ${e.package} from DP ${e.dp} (${formatBytes(e.fetched)} fetched)`;
    case 'ran':
      return `${e.deployment}: ran '${e.command}': ${e.exitCode === null ? 'killed' : `exit ${e.exitCode}`} (${e.succeeded ? 'success' : 'failure'})`;
    case 'reported':
      return `${e.deployment}: reported ${e.state}${e.message ? `: ${e.message}` : ''}`;
  }
}

function eventPrinter(o: ClientRunOptions): (e: AgentEvent) => void {
  const tty = process.stdout.isTTY === true;
  let progressShown = false;
  let lastDraw = 0;
  return (e) => {
    if (o.json) {
      // With --once the summary is the answer; without, one JSON line per event (no progress).
      if (!o.once && e.event !== 'progress') process.stdout.write(`${JSON.stringify(e)}\n`);
      return;
    }
    if (e.event === 'progress') {
      const now = Date.now();
      if (!tty || (now - lastDraw < 200 && e.held < e.size)) return;
      lastDraw = now;
      const pct = e.size ? Math.floor((100 * e.held) / e.size) : 100;
      process.stdout.write(`\r\x1b[K  ${e.file} ${pct}% (${formatBytes(e.held)} of ${formatBytes(e.size)})`);
      progressShown = true;
      return;
    }
    const line = humanLine(e, o.interval, !!o.once);
    if (line === null) return;
    if (progressShown) process.stdout.write('\r\x1b[K');
    progressShown = false;
    process.stdout.write(`${line}\n`);
  };
}

export function registerClientCommands(program: Command): void {
  const client = program
    .command('client')
    .description('the client agent: policy from a management point, content from DPs');
  client
    .command('run')
    .description(
      'register at a management point, then poll its policy: download each deployment (resumable, verified by SHA-256) and run its program',
    )
    .requiredOption(
      '--mp <url>',
      'the management point to ask first (a site server URL)',
      parseUrlOption('--mp'),
    )
    .option('--data <dir>', "the agent's data directory: its key, what it ran, downloads", 'outpost-client')
    .option('--bind <addr>', 'local source address of every request (to the MP and the DPs)')
    .option(
      '--once',
      'poll once, do what is due and exit (1 if the MP is unreachable or a deployment failed)',
    )
    .option(
      '--rate-limit <kbps>',
      'cap downloads at this many KiB/s',
      parseIntOption('--rate-limit', 1, 10_000_000),
    )
    .option('--interval <duration>', 'how often to poll the policy', '30s')
    .option('--name <name>', 'a name the site shows for this client')
    .option('--json', 'with --once a summary object; else one JSON line per event')
    .action(async (o: ClientRunOptions) => {
      const intervalMs = parseDuration(o.interval, '--interval');
      if (intervalMs < 500)
        throw new OutpostError('OUTPOST_BAD_INPUT', `--interval ${o.interval} must be at least 500ms`);
      if (o.bind !== undefined) await assertBindable(o.bind);
      const { ClientAgent } = await import('../../client/index.js');
      const agent = await ClientAgent.open(
        {
          mp: o.mp,
          dataDir: o.data,
          bind: o.bind,
          rateLimit: o.rateLimit && o.rateLimit * 1024,
          name: o.name,
        },
        eventPrinter(o),
      );
      const stop = new AbortController();
      const onSignal = () => stop.abort(new OutpostError('OUTPOST_INTERNAL', 'stopped by a signal'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        if (o.once) {
          const summary: PollSummary = await agent.poll(stop.signal);
          if (o.json) printJson(summary);
          if (summary.deployments.some((d) => d.state === 'failed')) process.exitCode = 1;
        } else {
          await agent.run(intervalMs, stop.signal);
        }
      } catch (err) {
        if (!stop.signal.aborted) throw err;
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await agent.close();
      }
    });

  serverOptions(client.command('list'))
    .description(
      'the clients this site holds (its own and those reported from below), each with its last report',
    )
    .option('--site <code>', 'only the clients of this site')
    .action(async (o: CommonOptions & { site?: string }) => {
      const rows = await (await AdminClient.from(o)).get<ClientView[]>('/clients', { site: o.site });
      printRows(!!o.json, rows, [
        ['client', (r) => r.id],
        ['name', (r) => r.name],
        ['site', (r) => r.site],
        ['address', (r) => r.address],
        ['boundary', (r) => r.boundary, 'wide'],
        ['last seen', (r) => r.lastSeen],
        ['last report', (r) => r.lastReport && lastReportText(r.lastReport)],
      ]);
    });

  serverOptions(client.command('show').argument('<id>', 'client id (16 hex digits)'))
    .description('one client with every deployment report this site holds for it')
    .action(async (id: string, o: CommonOptions) => {
      const c = await (await AdminClient.from(o)).get<ClientDetail>(
        `/clients/${encodeURIComponent(assertClientId(id))}`,
      );
      printObject(!!o.json, c as unknown as Record<string, unknown>);
      if (humanOutput() && c.reports.length)
        printRows(false, c.reports, [
          ['deployment', (r) => r.deployment],
          ['package', (r) => r.package],
          ['state', (r) => colourState(r.state)],
          ['exit code', (r) => r.exitCode],
          ['at', (r) => r.at],
          ['output', (r) => lastLine(r.output)],
        ]);
    });
}

function lastLine(output: string | null): string | undefined {
  return output?.split('\n').filter(Boolean).at(-1);
}

function lastReportText(r: ClientDeploymentReport): string {
  return `${r.deployment} ${colourState(r.state)}${r.exitCode === null ? '' : ` (exit ${r.exitCode})`}`;
}
